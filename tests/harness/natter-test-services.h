/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A real redis-server on a free loopback port, no persistence. */
typedef struct _NatterTestRedis NatterTestRedis;

NatterTestRedis *natter_test_redis_new (void);
void natter_test_redis_free (NatterTestRedis *self);
guint natter_test_redis_get_port (NatterTestRedis *self);
const char *natter_test_redis_get_uri (NatterTestRedis *self);
GPid natter_test_redis_get_pid (NatterTestRedis *self);
void natter_test_redis_kill (NatterTestRedis *self);
void natter_test_redis_restart (NatterTestRedis *self);
void natter_test_redis_pause (NatterTestRedis *self);
void natter_test_redis_resume (NatterTestRedis *self);

/* A throwaway PostgreSQL 15 cluster on a free loopback port. */
typedef struct _NatterTestPostgres NatterTestPostgres;

NatterTestPostgres *natter_test_postgres_new (void);
gboolean natter_test_postgres_available (void);
void natter_test_postgres_free (NatterTestPostgres *self);
guint natter_test_postgres_get_port (NatterTestPostgres *self);
const char *natter_test_postgres_get_socket_dir (NatterTestPostgres *self);
const char *natter_test_postgres_get_conninfo (NatterTestPostgres *self);
const char *natter_test_postgres_get_uri (NatterTestPostgres *self);
void natter_test_postgres_kill (NatterTestPostgres *self);
void natter_test_postgres_restart (NatterTestPostgres *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterTestRedis, natter_test_redis_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterTestPostgres, natter_test_postgres_free)

G_END_DECLS
