/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-frame.h"
#include "natter-store-queries.h"
#include "natter-types.h"

G_BEGIN_DECLS

/* The writes of the hub that carry events, behind an interface so that the
 * routing thread never waits for a disk or a database server. A backend
 * (SQLite on a writer thread of its own; PostgreSQL, pipelined) queues each
 * request, stores it in a transaction, possibly with others (group commit),
 * and calls the request's callback on the main context once that transaction
 * is durable. Callbacks run in the order the requests were made, so the
 * events of a profile are delivered in event id order. Event ids are
 * assigned inside the storing transaction: per profile they have no gaps
 * and commit in id order, so a client that syncs "after N" never skips an
 * event that commits later with a lower id.
 *
 * Each request is a plain struct the caller fills, keeps alive until its
 * callback ran, and reads the results from; the backend touches it only
 * between the call and the callback.
 *
 * Reads and the rest. The HTTP API (natter-http*.c) and the hub
 * (natter-hub*.c) read and write only through here. The hub's reads
 * (authenticate, list_participants, replay, and natter_server_store_query
 * () with the NatterStoreQueries operations: routing checks, contacts,
 * the call log) complete on the main context; a WebSocket frame that waits
 * for one holds the connection's later frames back (natter-hub.c,
 * natter_hub_hold_frames ()), so frames are handled in order.
 * natter_server_store_query () runs a route's work with the backend's
 * NatterStoreQueries (natter-store-queries.h: every operation once per
 * backend, synchronous, SQLite on its main-thread connection, PostgreSQL
 * on a thread and connection of its own) while the message waits paused.
 * Queries keep request order among themselves but are not ordered with
 * the event writes above. natter-server.c opens the backend --db names
 * (natter_server_open_store ()) and does its start-up work (stale calls,
 * --demo, adduser) with that backend's queries before anything is served. */

#define NATTER_TYPE_SERVER_STORE (natter_server_store_get_type ())
G_DECLARE_INTERFACE (NatterServerStore, natter_server_store, NATTER, SERVER_STORE, GObject)

/* @error is NULL when the request is durably stored, else nothing of it is. */
typedef void (*NatterServerStoreDone) (NatterServerStore *store,
                                       const GError *error,
                                       gpointer user_data);

/* One chat message. Idempotent on (sender, client_msg_id): a message stored
 * before under that id comes back with @duplicate set and nothing new is
 * stored. Otherwise the message gets its id, the conversation's next seq and
 * sent_at; each participant gets one chat_message event (the sender's own
 * is the ack's event_id), and the sender is marked as having taken part. */
typedef struct {
  /* in */
  NatterProfile *sender; /* full profile: the events carry its name and avatar */
  /* 0: the direct conversation of sender and @to_profile, created in the
   * storing transaction when it does not exist yet (then set) */
  gint64 conversation_id;
  NatterProfile *to_profile;
  char *text;
  char *client_msg_id;
  GPtrArray *participants; /* NatterProfile: the conversation's, sender included */
  /* gint64 ids of uploaded attachments (nullable): linked to the message in
   * the storing transaction, by the backend's chat code. */
  GArray *attachment_ids;
  /* out */
  NatterMessage *message;
  gint64 sender_event_id;
  GPtrArray *event_texts; /* char *, the stored event per participant; NULL for a duplicate */
  /* @message serialized once, for the sender's ack (nullable: the hub then
   * serializes the ack itself) */
  char *message_json;
  gboolean duplicate;
  gboolean took_part; /* the sender's first message in the conversation */
  gboolean created;   /* the message made its direct conversation */
} NatterStoreChatMessage;

/* A read position: kept only when it moves forward (clamped to the
 * conversation's last seq); then each participant gets a read_receipt event. */
typedef struct {
  /* in */
  NatterProfile *reader;
  gint64 conversation_id;
  gint64 up_to_seq;
  GPtrArray *participants; /* NatterProfile */
  /* out */
  gint64 stored_up_to_seq;
  GPtrArray *event_texts; /* char *, per participant; empty when the position did not move */
} NatterStoreReadMark;

/* One event in @profile's history, optionally replacing an older one: the
 * event @replace_event_id, or the one @replaces stored (a request made
 * earlier whose callback may not have run yet). Reference counted. */
typedef struct _NatterStoreEvent NatterStoreEvent;
struct _NatterStoreEvent {
  /* in */
  NatterProfile *profile;
  NatterFrame *frame; /* its event_id is set when stored */
  gint64 replace_event_id;
  NatterStoreEvent *replaces;
  /* out */
  gint64 event_id;
  char *text;
};

/* What authenticate () found: the token's user, and @profile when the
 * profile asked for is that user's (else NULL: "not yours"). */
typedef struct {
  gint64 user_id;
  gint64 token_id;
  NatterProfile *profile; /* full */
} NatterStoreAuth;

/* A profile's history after an event id, read in one snapshot. */
typedef struct {
  GPtrArray *events; /* char *, the stored frames, oldest first */
  /* More than the limit followed: @events are the newest of them. */
  gboolean truncated;
  gint64 last_event_id; /* the profile's last event id, 0 when none */
  char *epoch;          /* names the history (hello's server_epoch) */
} NatterStoreReplay;

/* Where a chat_message with to_profile_* goes (natter-hub-chat.c's
 * resolve_conversation), read at once: refused when either blocked the
 * other; else the direct conversation, or when there is none yet the
 * recipient's full profile (the store then creates it with the message). */
typedef struct {
  gboolean blocked;
  gint64 conversation_id; /* 0 when none yet */
  NatterProfile *to;      /* full; NULL when blocked or the conversation exists */
} NatterStoreDirect;

struct _NatterServerStoreInterface {
  GTypeInterface parent_iface;

  /* @messages: NatterStoreChatMessage, stored in one transaction */
  void (*store_chat_messages) (NatterServerStore *self,
                               GPtrArray *messages,
                               NatterServerStoreDone done,
                               gpointer user_data);
  void (*mark_read) (NatterServerStore *self,
                     NatterStoreReadMark *mark,
                     NatterServerStoreDone done,
                     gpointer user_data);
  void (*add_event) (NatterServerStore *self,
                     NatterStoreEvent *event,
                     NatterServerStoreDone done,
                     gpointer user_data);
  /* Waits until every request made so far is stored and its callback ran. */
  void (*flush) (NatterServerStore *self);

  /* Reads, each answered through a GTask (natter_server_store_*_finish). */
  void (*authenticate) (NatterServerStore *self,
                        const char *token_hash_hex,
                        gint64 now_unix,
                        const NatterProfile *profile,
                        GAsyncReadyCallback callback,
                        gpointer user_data);
  void (*list_participants) (NatterServerStore *self,
                             gint64 conversation_id,
                             GAsyncReadyCallback callback,
                             gpointer user_data);
  void (*resolve_direct) (NatterServerStore *self,
                          const NatterProfile *sender,
                          const NatterProfile *to,
                          GAsyncReadyCallback callback,
                          gpointer user_data);
  void (*replay) (NatterServerStore *self,
                  const NatterProfile *profile,
                  gint64 after_event_id,
                  guint limit,
                  GAsyncReadyCallback callback,
                  gpointer user_data);
  /* Runs @func with the backend's NatterStoreQueries where it does not
   * hold up the main context; @callback runs on it. */
  void (*query) (NatterServerStore *self,
                 NatterStoreQueryFunc func,
                 gpointer data,
                 GDestroyNotify data_free,
                 GDestroyNotify result_free,
                 GAsyncReadyCallback callback,
                 gpointer user_data);
};

void natter_server_store_store_chat_messages (NatterServerStore *self,
                                              GPtrArray *messages,
                                              NatterServerStoreDone done,
                                              gpointer user_data);
void natter_server_store_mark_read (NatterServerStore *self,
                                    NatterStoreReadMark *mark,
                                    NatterServerStoreDone done,
                                    gpointer user_data);
void natter_server_store_add_event (NatterServerStore *self,
                                    NatterStoreEvent *event,
                                    NatterServerStoreDone done,
                                    gpointer user_data);
void natter_server_store_flush (NatterServerStore *self);

/* For backends: the GTask a read answers through. */
GTask *natter_server_store_read_task_new (NatterServerStore *self,
                                          gpointer source_tag,
                                          GAsyncReadyCallback callback,
                                          gpointer user_data);

/* For backends: runs @func on @queries and answers @task (taken). */
void natter_server_store_query_run (GTask *task,
                                    NatterStoreQueries *queries,
                                    NatterStoreQueryFunc func,
                                    gpointer data,
                                    GDestroyNotify data_free,
                                    GDestroyNotify result_free);

/* The upgrade of a WebSocket: NOT_FOUND when the token is unknown, expired
 * at @now_unix or revoked. @profile needs only its id and type. */
void natter_server_store_authenticate (NatterServerStore *self,
                                       const char *token_hash_hex,
                                       gint64 now_unix,
                                       const NatterProfile *profile,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
NatterStoreAuth *natter_server_store_authenticate_finish (NatterServerStore *self,
                                                          GAsyncResult *result,
                                                          GError **error);
/* A conversation's participants (NatterProfile, full, in the order they
 * joined): a chat route. Empty when there is no such conversation. */
void natter_server_store_list_participants (NatterServerStore *self,
                                            gint64 conversation_id,
                                            GAsyncReadyCallback callback,
                                            gpointer user_data);
GPtrArray *natter_server_store_list_participants_finish (NatterServerStore *self,
                                                         GAsyncResult *result,
                                                         GError **error);
/* NOT_FOUND when @to does not exist (and has no conversation with
 * @sender). @to needs only its id and type. */
void natter_server_store_resolve_direct (NatterServerStore *self,
                                         const NatterProfile *sender,
                                         const NatterProfile *to,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data);
NatterStoreDirect *natter_server_store_resolve_direct_finish (NatterServerStore *self,
                                                              GAsyncResult *result,
                                                              GError **error);
/* Replay after @after_event_id, at most @limit events; hello reads only
 * last_event_id and epoch (limit 0). */
void natter_server_store_replay (NatterServerStore *self,
                                 const NatterProfile *profile,
                                 gint64 after_event_id,
                                 guint limit,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data);
NatterStoreReplay *
natter_server_store_replay_finish (NatterServerStore *self, GAsyncResult *result, GError **error);

/* The HTTP API's reads and writes (NatterStoreQueries), in request order:
 * @func runs with @data (freed with @data_free afterwards) where the store
 * runs them (@data_free runs there too, maybe on the store's thread), and
 * its result (freed with @result_free when nobody takes it) comes back
 * through natter_server_store_query_finish (). */
void natter_server_store_query (NatterServerStore *self,
                                NatterStoreQueryFunc func,
                                gpointer data,
                                GDestroyNotify data_free,
                                GDestroyNotify result_free,
                                GAsyncReadyCallback callback,
                                gpointer user_data);
gpointer
natter_server_store_query_finish (NatterServerStore *self, GAsyncResult *result, GError **error);

void natter_store_auth_free (NatterStoreAuth *auth);
void natter_store_replay_free (NatterStoreReplay *replay);
void natter_store_direct_free (NatterStoreDirect *direct);

NatterStoreChatMessage *natter_store_chat_message_new (const NatterProfile *sender,
                                                       gint64 conversation_id,
                                                       const char *text,
                                                       const char *client_msg_id,
                                                       GPtrArray *participants);
void natter_store_chat_message_free (NatterStoreChatMessage *message);

NatterStoreReadMark *natter_store_read_mark_new (const NatterProfile *reader,
                                                 gint64 conversation_id,
                                                 gint64 up_to_seq,
                                                 GPtrArray *participants);
void natter_store_read_mark_free (NatterStoreReadMark *mark);

/* Takes @frame. */
NatterStoreEvent *natter_store_event_new (const NatterProfile *profile, NatterFrame *frame);
NatterStoreEvent *natter_store_event_ref (NatterStoreEvent *event);
void natter_store_event_unref (NatterStoreEvent *event);

/* Fills the frame's from_* fields (chat_message, read_receipt events). */
void natter_store_stamp_sender (NatterFrame *frame, const NatterProfile *sender);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterStoreChatMessage, natter_store_chat_message_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterStoreReadMark, natter_store_read_mark_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterStoreEvent, natter_store_event_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterStoreAuth, natter_store_auth_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterStoreReplay, natter_store_replay_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterStoreDirect, natter_store_direct_free)

G_END_DECLS
