/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-call-session.h"
#include "natter-hub-connection.h"
#include "natter-ws-poller.h"
#include "natter-hub.h"

G_BEGIN_DECLS

typedef struct _NatterHubRemoteCalls NatterHubRemoteCalls;

struct _NatterHub {
  GObject parent_instance;

  NatterServerStore *store; /* every read and write, off this thread */
  const NatterServerConfig *config;
  NatterMetrics *metrics;

  /* Every open connection (owned). */
  GHashTable *connections;
  /* profile key -> GPtrArray of NatterHubConnection (unowned) */
  GHashTable *by_profile;
  /* user_id -> number of connections, for the per-user cap */
  GHashTable *by_user;

  /* call_log_id -> NatterCallSession (owned), live calls only */
  GHashTable *calls;
  /* profile key -> GPtrArray of NatterCallSession (unowned) where the profile
   * is caller or callee */
  GHashTable *calls_by_profile;

  /* conversation_id -> NatterConversationRoute (reference held): who takes
   * part, read once; participants never change once a conversation exists */
  GHashTable *routes;
  /* direct pair key -> gint64 conversation_id: a direct conversation is
   * never deleted and there is one per pair, so its id never changes */
  GHashTable *direct_conversations;

  /* PendingChat: chat messages waiting for the next group commit */
  GPtrArray *pending_chats;
  guint chat_flush_id;

  /* Limits on calls: caller key -> NatterTokenBucket of invitations, and
   * callee key -> (caller key -> MissedCalls) for a callee away since. */
  GHashTable *invitation_buckets;
  GHashTable *missed_calls;

  /* One timer closes the silent connections of every profile. */
  guint watchdog_id;
  /* Every WebSocket's socket, in one epoll source (natter-ws-poller.c). */
  NatterWsPoller *poller;

  GTask *shutdown_task;
  guint shutdown_timeout_id;
  gboolean shutting_down;

  /* How this node reaches the others (natter-hub-nodes.c); shared: there
   * may be others. profile key -> NodeProfile, only when shared. */
  NatterServerBus *bus;
  gboolean shared;
  GHashTable *node_profiles;
  /* "profile key\nclient_msg_id" -> NatterHubConnection (unowned: its
   * PendingChat holds it) of the chat messages on their way to the store */
  GHashTable *sending;
  /* Unpublished: events the bus could not take, sent when it is back */
  GQueue *unpublished;
  /* Presence across nodes: request -> PresenceGreet (a new connection
   * waiting to learn which contacts are online elsewhere), and the
   * numbers of the next request and connection member. */
  GHashTable *presence_greets;
  /* member -> NatterHubConnection (unowned: removed when it closes) */
  GHashTable *presence_connections;
  guint64 next_greet;
  guint64 next_member;
  /* Calls across nodes (natter-hub-remote-calls.c), only when shared. */
  NatterHubRemoteCalls *remote_calls;
};

/* A conversation's participants and their profile keys, for routing;
 * reference counted (g_rc_box). */
typedef struct {
  GPtrArray *participants; /* NatterProfile */
  GPtrArray *keys;         /* char *, from natter_hub_profile_key () */
} NatterConversationRoute;

/* natter-hub.c */
GPtrArray *natter_hub_lookup_connections (NatterHub *self, const char *profile_key);
void natter_hub_send_to_profile (NatterHub *self,
                                 const char *profile_key,
                                 NatterHubConnection *except,
                                 const char *type,
                                 const char *text);
void natter_hub_stamp_sender (NatterFrame *frame, const NatterProfile *sender);
/* A frame that waits for the store holds the connection's later frames
 * back until released (once per hold): frames are handled in order. */
void natter_hub_hold_frames (NatterHub *self, NatterHubConnection *connection);
void natter_hub_release_frames (NatterHub *self, NatterHubConnection *connection);
void natter_hub_close_token_here (NatterHub *self, gint64 token_id);
void natter_hub_close_user_here (NatterHub *self, gint64 user_id);
/* Storage work of the hub, off the routing thread: @result is NULL on a
 * failure (logged). */
typedef void (*NatterHubQueryDone) (NatterHub *self, gpointer result, gpointer user_data);
void natter_hub_query (NatterHub *self,
                       NatterStoreQueryFunc func,
                       gpointer data,
                       GDestroyNotify data_free,
                       GDestroyNotify result_free,
                       const char *what,
                       NatterHubQueryDone done,
                       gpointer user_data,
                       GDestroyNotify user_data_free);
void natter_hub_read_contacts (NatterHub *self,
                               const NatterProfile *profile,
                               NatterHubQueryDone done,
                               gpointer user_data,
                               GDestroyNotify user_data_free);
/* natter-hub-nodes.c */
/* The profile's last event id as hello read it. */
void natter_hub_nodes_profile_read (NatterHub *self,
                                    NatterHubConnection *connection,
                                    gint64 last_event_id);
void natter_hub_deliver_event (NatterHub *self,
                               const char *profile_key,
                               NatterHubConnection *except,
                               const char *type,
                               const char *text);
void natter_hub_relay_frame (NatterHub *self,
                             const char *profile_key,
                             const char *type,
                             const char *text);
/* What a node asks of every other. */
#define NATTER_HUB_NODES_DISCONNECT_TOKEN "disconnect-token"
#define NATTER_HUB_NODES_DISCONNECT_USER "disconnect-user"
void natter_hub_nodes_tell_others (NatterHub *self, const char *request, gint64 id);
void natter_hub_nodes_sending_begin (NatterHub *self,
                                     NatterHubConnection *connection,
                                     const char *client_msg_id);
void natter_hub_nodes_sending_end (NatterHub *self,
                                   NatterHubConnection *connection,
                                   const char *client_msg_id);
void natter_hub_nodes_profile_opened (NatterHub *self, NatterHubConnection *connection);
void natter_hub_nodes_profile_closed (NatterHub *self, const char *profile_key);
void natter_hub_nodes_presence_opened (NatterHub *self,
                                       NatterHubConnection *connection,
                                       GPtrArray *contacts_elsewhere);
void natter_hub_nodes_presence_closed (NatterHub *self, NatterHubConnection *connection);
void natter_hub_nodes_init (NatterHub *self);
void natter_hub_nodes_publish_to_node (NatterHub *self,
                                       const char *node_id,
                                       const char *kind,
                                       const char *text);
void natter_hub_nodes_introduce (NatterHub *self, const NatterProfile *a, const NatterProfile *b);
void natter_hub_nodes_publish_to_profile (NatterHub *self,
                                          const char *profile_key,
                                          const char *kind,
                                          const char *text);
void natter_hub_nodes_publish_to_all (NatterHub *self, const char *kind, const char *text);
void natter_hub_nodes_dispose (NatterHub *self);
/* natter-hub-attachments.c */
void natter_hub_introduce (NatterHub *self, const NatterProfile *a, const NatterProfile *b);

void natter_hub_send_internal_error (NatterHubConnection *connection,
                                     const GError *error,
                                     const char *ref);
void natter_hub_introduce_participants (NatterHub *self,
                                        NatterConversationRoute *route,
                                        gint64 conversation_id,
                                        const NatterProfile *newcomer);

/* natter-hub-chat.c */
void natter_conversation_route_release (gpointer route);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterConversationRoute, natter_conversation_route_release)
/* The route of a conversation whose @participants the store read, kept
 * for the next frames (participants never change). */
NatterConversationRoute *
natter_hub_cache_route (NatterHub *self, gint64 conversation_id, GPtrArray *participants);
void natter_hub_chat_queue_message (NatterHub *self,
                                    NatterHubConnection *connection,
                                    NatterFrame *frame);
/* Hands the queued chat messages to the store now. */
void natter_hub_chat_flush (NatterHub *self);
void natter_hub_chat_pending_free (gpointer pending);
void natter_hub_chat_handle_typing (NatterHub *self,
                                    NatterHubConnection *connection,
                                    NatterFrame *frame);
void natter_hub_chat_handle_mark_read (NatterHub *self,
                                       NatterHubConnection *connection,
                                       NatterFrame *frame);
void
natter_hub_chat_handle_sync (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame);

/* natter-hub-call-log.c: the call log, through the store. @call_log is
 * NULL on a failure (logged); @were_contacts is for answers only. */
typedef void (*NatterHubCallLogDone) (NatterHub *self,
                                      NatterCallLog *call_log,
                                      gboolean were_contacts,
                                      gpointer user_data);
void natter_hub_call_log_write (NatterHub *self,
                                gint64 call_log_id,
                                const char *status,
                                NatterHubCallLogDone done,
                                gpointer user_data,
                                GDestroyNotify user_data_free);
void natter_hub_call_log_read (NatterHub *self,
                               gint64 call_log_id,
                               NatterHubCallLogDone done,
                               gpointer user_data,
                               GDestroyNotify user_data_free);
void natter_hub_call_log_answer (NatterHub *self,
                                 gint64 call_log_id,
                                 const NatterProfile *caller,
                                 const NatterProfile *callee,
                                 NatterHubCallLogDone done,
                                 gpointer user_data,
                                 GDestroyNotify user_data_free);
void natter_hub_call_log_create (NatterHub *self,
                                 const NatterProfile *caller,
                                 const NatterProfile *callee,
                                 const char *call_type,
                                 gint64 conversation_id,
                                 NatterHubCallLogDone done,
                                 gpointer user_data,
                                 GDestroyNotify user_data_free);
/* What a call_invitation needs from the store: the callee (NULL when no
 * such profile), a block either way, and both in the conversation. */
typedef struct {
  NatterProfile *callee;
  gboolean blocked;
  gboolean participants;
} NatterCallInvitationCheck;
typedef void (*NatterHubInvitationDone) (NatterHub *self,
                                         NatterCallInvitationCheck *check,
                                         gpointer user_data);
void natter_hub_call_check_invitation (NatterHub *self,
                                       const NatterProfile *caller,
                                       const NatterFrame *frame,
                                       NatterHubInvitationDone done,
                                       gpointer user_data,
                                       GDestroyNotify user_data_free);

/* natter-hub-calls.c */
void natter_hub_calls_handle_frame (NatterHub *self,
                                    NatterHubConnection *connection,
                                    NatterFrame *frame);
void natter_hub_calls_handle_invitation (NatterHub *self,
                                         NatterHubConnection *connection,
                                         NatterFrame *frame,
                                         gboolean callee_elsewhere,
                                         guint64 claim);
void natter_hub_calls_handle_answer (NatterHub *self,
                                     NatterHubConnection *connection,
                                     NatterFrame *frame);
void natter_hub_calls_connection_opened (NatterHub *self, NatterHubConnection *connection);
void natter_hub_calls_connection_closed (NatterHub *self,
                                         NatterHubConnection *connection,
                                         gboolean was_last);
void natter_hub_calls_shutdown (NatterHub *self);
/* Calls that rang on a node that is gone (natter-hub-calls.c). */
void
natter_hub_calls_left (NatterHub *self, const char *node_id, gboolean own, GArray *call_log_ids);

/* natter-hub-remote-calls.c: calls across nodes, hooks of natter-hub-calls.c */
#define NATTER_HUB_REMOTE_CALLS_KIND_PREFIX "call-"
void natter_hub_remote_calls_init (NatterHub *self);
void natter_hub_remote_calls_dispose (NatterHub *self);
void natter_hub_remote_calls_bus_message (NatterHub *self, const char *kind, const char *text);
gboolean natter_hub_remote_calls_take_invitation (NatterHub *self,
                                                  NatterHubConnection *connection,
                                                  NatterFrame *frame);
gboolean natter_hub_remote_calls_take_answer (NatterHub *self,
                                              NatterHubConnection *connection,
                                              NatterFrame *frame);
void natter_hub_remote_calls_dropped (NatterHub *self, NatterCallSession *session);
gboolean natter_hub_remote_calls_party_elsewhere (NatterHub *self, NatterCallSession *session);
void
natter_hub_remote_calls_drop_claim (NatterHub *self, guint64 claim, NatterHubConnection *caller);
void natter_hub_remote_calls_ring (NatterHub *self, NatterCallSession *session, guint64 claim);
void natter_hub_remote_calls_to_side (NatterHub *self,
                                      NatterCallSession *session,
                                      gboolean to_caller,
                                      NatterHubConnection *except,
                                      const char *type,
                                      const char *text);
void natter_hub_remote_calls_to_callee (NatterHub *self,
                                        NatterCallSession *session,
                                        NatterHubConnection *except,
                                        const char *type,
                                        const char *text);
gboolean natter_hub_remote_calls_forward (NatterHub *self,
                                          NatterHubConnection *connection,
                                          NatterFrame *frame);
void natter_hub_remote_calls_connection_opened (NatterHub *self, NatterHubConnection *connection);
void natter_hub_remote_calls_connection_closed (NatterHub *self, NatterHubConnection *connection);

G_END_DECLS
