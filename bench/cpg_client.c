/* cpg_client.c: corosync's CPG side of bench/cpg_bench.sh. Joins GROUP through libcpg, multicasts
 * COUNT messages of SIZE bytes (AGREED) with at most WINDOW of its own messages sent and not yet
 * delivered back (pipelined, like `ha-cpg bench --window`), counts its own deliveries and prints
 * one line in ha-cpg bench's format:
 *
 *   size=S count=N window=W received=R seconds=T msgs_per_s=X mb_per_s=Y latency_us_p50=A
 *   latency_us_p99=B
 *
 * Built by the bench script when it runs (gcc -O2 cpg_client.c -lcpg), not by the project build.
 * Usage: cpg_client GROUP SIZE COUNT WINDOW
 */
#include <corosync/cpg.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint32_t local_nodeid;
static uint32_t local_pid;
static int joined;
static long received;
static double *sent_at;  /* by message index, seconds */
static double *latencies;
static long latency_count;
static long count;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_deliver(cpg_handle_t handle, const struct cpg_name *group, uint32_t nodeid,
                       uint32_t pid, void *msg, size_t msg_len) {
  uint64_t index = 0;
  (void)handle;
  (void)group;
  if (nodeid != local_nodeid || pid != local_pid)
    return;
  memcpy(&index, msg, msg_len < sizeof(index) ? msg_len : sizeof(index));
  if (index < (uint64_t)count)
    latencies[latency_count++] = (now_s() - sent_at[index]) * 1e6;
  received++;
}

static void on_confchg(cpg_handle_t handle, const struct cpg_name *group,
                       const struct cpg_address *members, size_t n_members,
                       const struct cpg_address *left, size_t n_left,
                       const struct cpg_address *joined_list, size_t n_joined) {
  size_t i;
  (void)handle;
  (void)group;
  (void)members;
  (void)n_members;
  (void)left;
  (void)n_left;
  for (i = 0; i < n_joined; i++) {
    if (joined_list[i].nodeid == local_nodeid && joined_list[i].pid == local_pid)
      joined = 1;
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double p) {
  long i;
  if (latency_count == 0)
    return 0;
  i = (long)(p * (double)latency_count);
  if (i >= latency_count)
    i = latency_count - 1;
  return latencies[i];
}

/* Waits up to timeout_ms for the CPG descriptor, then dispatches what is there. */
static int dispatch(cpg_handle_t handle, int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  cs_error_t rc;
  if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR)
    return -1;
  rc = cpg_dispatch(handle, CS_DISPATCH_ALL);
  if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN) {
    fprintf(stderr, "cpg_client: cpg_dispatch: %d\n", rc);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  cpg_handle_t handle;
  cpg_callbacks_t callbacks;
  struct cpg_name group;
  struct iovec iov;
  char *payload;
  long size, window, sent = 0;
  double start, deadline, seconds;
  int fd;
  cs_error_t rc;

  if (argc != 5) {
    fprintf(stderr, "usage: cpg_client GROUP SIZE COUNT WINDOW\n");
    return 64;
  }
  size = atol(argv[2]);
  count = atol(argv[3]);
  window = atol(argv[4]);
  if (size < 8)
    size = 8;
  if (count <= 0 || window <= 0 || strlen(argv[1]) >= CPG_MAX_NAME_LENGTH) {
    fprintf(stderr, "cpg_client: bad arguments\n");
    return 64;
  }
  sent_at = calloc((size_t)count, sizeof(double));
  latencies = calloc((size_t)count, sizeof(double));
  payload = malloc((size_t)size);
  if (sent_at == NULL || latencies == NULL || payload == NULL)
    return 1;
  memset(payload, 'x', (size_t)size);

  memset(&callbacks, 0, sizeof(callbacks));
  callbacks.cpg_deliver_fn = on_deliver;
  callbacks.cpg_confchg_fn = on_confchg;
  rc = cpg_initialize(&handle, &callbacks);
  if (rc != CS_OK) {
    fprintf(stderr, "cpg_client: cpg_initialize: %d (is corosync running?)\n", rc);
    return 1;
  }
  cpg_local_get(handle, &local_nodeid);
  local_pid = (uint32_t)getpid();
  cpg_fd_get(handle, &fd);
  strcpy(group.value, argv[1]);
  group.length = (uint32_t)strlen(argv[1]);
  while ((rc = cpg_join(handle, &group)) == CS_ERR_TRY_AGAIN)
    usleep(1000);
  if (rc != CS_OK) {
    fprintf(stderr, "cpg_client: cpg_join: %d\n", rc);
    return 1;
  }
  deadline = now_s() + 30;
  while (!joined && now_s() < deadline) {
    if (dispatch(handle, fd, 10) < 0)
      return 1;
  }
  if (!joined) {
    fprintf(stderr, "cpg_client: the join was not confirmed in 30 s\n");
    return 1;
  }

  start = now_s();
  deadline = start + 120;
  while (received < count && now_s() < deadline) {
    int full = 0;
    while (sent < count && sent - received < window) {
      uint64_t index = (uint64_t)sent;
      memcpy(payload, &index, sizeof(index));
      sent_at[sent] = now_s();
      iov.iov_base = payload;
      iov.iov_len = (size_t)size;
      rc = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
      if (rc == CS_ERR_TRY_AGAIN) {
        full = 1;
        break;
      }
      if (rc != CS_OK) {
        fprintf(stderr, "cpg_client: cpg_mcast_joined: %d\n", rc);
        return 1;
      }
      sent++;
    }
    if (dispatch(handle, fd, (!full && sent < count && sent - received < window) ? 0 : 1) < 0)
      return 1;
  }
  seconds = now_s() - start;
  qsort(latencies, (size_t)latency_count, sizeof(double), cmp_double);
  printf("size=%ld count=%ld window=%ld received=%ld seconds=%.3f msgs_per_s=%.0f mb_per_s=%.2f "
         "latency_us_p50=%.0f latency_us_p99=%.0f\n",
         size, count, window, received, seconds, (double)received / seconds,
         (double)received * (double)size / seconds / 1e6, pct(0.5), pct(0.99));
  cpg_leave(handle, &group);
  cpg_finalize(handle);
  return received >= count ? 0 : 1;
}
