/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

#include "natter-frame.h"
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
 * between the call and the callback. */

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

G_END_DECLS
