/* The benchmark's client for Pacemaker's executor (pacemaker-execd run on its own): runs N
 * one-shot actions of one agent back to back and prints "ops_per_s overhead_ms", where the
 * overhead is the wall time of an action minus the agent's own run time (exec-time).
 * Built by bench/lrmd_vs_execd.sh against Debian's pacemaker-dev; not part of the project. */
#include <crm/crm.h>
#include <crm/lrmd.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static lrmd_t *conn;
static GMainLoop *loop;
static int remaining, done_count;
static double started, total_overhead_ms, bench_start;
static const char *action;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void next(void) {
  if (remaining-- <= 0) {
    g_main_loop_quit(loop);
    return;
  }
  started = now_ms();
  conn->cmds->exec(conn, "bench", action, NULL, 0, 20000, 0, 0, NULL);
}

static void on_event(lrmd_event_data_t *event) {
  if (event->type != lrmd_event_exec_complete)
    return;
  total_overhead_ms += now_ms() - started - event->exec_time;
  done_count++;
  next();
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s PROVIDER TYPE ACTION COUNT\n", argv[0]);
    return 2;
  }
  action = argv[3];
  remaining = atoi(argv[4]);
  conn = lrmd_api_new();
  if (conn->cmds->connect(conn, "bench", NULL) != pcmk_ok) {
    fprintf(stderr, "cannot connect to pacemaker-execd\n");
    return 1;
  }
  conn->cmds->set_callback(conn, on_event);
  conn->cmds->register_rsc(conn, "bench", "ocf", argv[1], argv[2], 0);
  loop = g_main_loop_new(NULL, FALSE);
  bench_start = now_ms();
  next();
  g_main_loop_run(loop);
  double seconds = (now_ms() - bench_start) / 1000.0;
  printf("%.1f %.2f\n", done_count / seconds, done_count ? total_overhead_ms / done_count : 0);
  conn->cmds->disconnect(conn);
  lrmd_api_delete(conn);
  return 0;
}
