/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A program of this build: $@env_variable if set, else @build_path/@name
 * in the build tree the bench runs from, else @name beside the bench (an
 * install), else @name on PATH. NULL when none is executable. */
char *
natter_bench_find_program (const char *env_variable, const char *build_path, const char *name);

/* Deletes @path and everything under it (the bench's temporary folders). */
void natter_bench_remove_tree (const char *path);

/* A natter-server of this build that a bench command starts for itself when
 * it is given no --server: port 0, a database in a temporary folder, the
 * per-connection rate limits lifted (the load is the point). */
typedef struct {
  GSubprocess *process;
  GDataInputStream *out;
  char *directory;
  char *url;
  int pid;
} NatterBenchServer;

/* The profile types a server the bench starts offers (the default four
 * first, which the calls command registers): sixteen, the default
 * --max-connections-per-user, so one account (one password hash, argon2id
 * at full cost in a release build) holds sixteen clients. */
#define NATTER_BENCH_SERVER_PROFILE_TYPES                                                    \
  "student,tutor,parent,advertiser,bencha,benchb,benchc,benchd,benche,benchf,benchg,benchh," \
  "benchi,benchj,benchk,benchl"

/* Pins the servers started after this to the CPUs of @list ("0", "0,1",
 * "0-3"): what one core does against two. FALSE on a list that names none. */
gboolean natter_bench_server_set_cpus (const char *list, GError **error);
gboolean natter_bench_server_start (NatterBenchServer *server, GError **error);
/* What every command does with --server: when *@url is NULL, starts
 * @server and sets *@url (and *@pid when given) to it. */
gboolean natter_bench_server_start_unless_given (NatterBenchServer *server,
                                                 char **url,
                                                 int *pid,
                                                 GError **error);
/* Stops the server (SIGTERM, then waits) and deletes its folder. */
void natter_bench_server_stop (NatterBenchServer *server);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (NatterBenchServer, natter_bench_server_stop)

/* The process that listens on @url's port on this machine, from
 * /proc/net/tcp{,6} and the processes' open sockets; 0 when the server is
 * elsewhere or not ours to see. */
int natter_bench_find_server_pid (const char *url);

G_END_DECLS
