/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-hub"

/* The call log of the hub's calls (natter-hub-calls.c), read and written
 * through the store where it runs queries: never waited for on the routing
 * thread. Queries answer in the order they were made, so a call's writes
 * land in the order of its transitions. */

#include "natter-hub-private.h"

/* A read or write of one call, and what comes back. */
typedef struct {
  gint64 call_log_id;
  char *status; /* NULL: read only, or (end) the end of an answered call */
  gboolean end;
  /* answering: were caller and callee contacts before? */
  NatterProfile *caller;
  NatterProfile *callee;
  gboolean were_contacts;
  /* creating */
  char *call_type;
  gint64 conversation_id;
  /* out */
  NatterCallLog *call_log;
} CallLogJob;

static void
call_log_job_free (gpointer data)
{
  CallLogJob *job = data;

  g_free (job->status);
  g_clear_pointer (&job->caller, natter_profile_free);
  g_clear_pointer (&job->callee, natter_profile_free);
  g_free (job->call_type);
  g_clear_pointer (&job->call_log, natter_call_log_free);
  g_free (job);
}

static gboolean
are_contacts (NatterStoreQueries *queries, const NatterProfile *a, const NatterProfile *b)
{
  g_autoptr (GPtrArray) contacts = natter_store_queries_list_contacts (queries, a, NULL);

  for (guint i = 0; contacts != NULL && i < contacts->len; i++) {
    if (natter_profile_equal (g_ptr_array_index (contacts, i), b))
      return TRUE;
  }
  return FALSE;
}

/* What a job gives back. */
typedef struct {
  NatterCallLog *call_log;
  gboolean were_contacts;
} CallLogResult;

static void
call_log_result_free (gpointer data)
{
  CallLogResult *result = data;

  natter_call_log_free (result->call_log);
  g_free (result);
}

/* Where the store runs queries. */
static gpointer
run_call_log_job (NatterStoreQueries *queries, gpointer data, GError **error)
{
  CallLogJob *job = data;
  CallLogResult *result;

  if (job->call_type != NULL) {
    job->call_log = natter_store_queries_create_call (queries, job->caller, job->callee,
                                                      job->call_type, job->conversation_id, error);
  } else {
    if (job->caller != NULL)
      job->were_contacts = are_contacts (queries, job->caller, job->callee);
    if (job->end)
      job->call_log = natter_store_queries_end_call (queries, job->call_log_id, error);
    else if (job->status != NULL)
      job->call_log =
        natter_store_queries_set_call_status (queries, job->call_log_id, job->status, error);
    else
      job->call_log = natter_store_queries_get_call (queries, job->call_log_id, error);
  }
  if (job->call_log == NULL)
    return NULL;
  result = g_new0 (CallLogResult, 1);
  result->call_log = g_steal_pointer (&job->call_log);
  result->were_contacts = job->were_contacts;
  return result;
}

typedef struct {
  NatterHubCallLogDone done;
  gpointer user_data;
  GDestroyNotify user_data_free;
} CallLogWait;

static void
call_log_wait_free (gpointer data)
{
  CallLogWait *wait = data;

  if (wait->user_data_free != NULL)
    wait->user_data_free (wait->user_data);
  g_free (wait);
}

static void
on_call_log_done (NatterHub *self, gpointer result, gpointer user_data)
{
  CallLogResult *job = result;
  CallLogWait *wait = user_data;

  if (wait->done != NULL)
    wait->done (self, job != NULL ? job->call_log : NULL, job != NULL && job->were_contacts,
                wait->user_data);
}

static void
start_job (NatterHub *self,
           CallLogJob *job,
           const char *what,
           NatterHubCallLogDone done,
           gpointer user_data,
           GDestroyNotify user_data_free)
{
  CallLogWait *wait = g_new0 (CallLogWait, 1);

  wait->done = done;
  wait->user_data = user_data;
  wait->user_data_free = user_data_free;
  natter_hub_query (self, run_call_log_job, job, call_log_job_free, call_log_result_free, what,
                    on_call_log_done, wait, call_log_wait_free);
}

/**
 * natter_hub_call_log_write:
 * @self: the hub
 * @call_log_id: a call
 * @status: (nullable): its new status (natter_server_db_set_call_status
 *   ()), or NULL for the end of an answered call (end_call ())
 * @done: (nullable): gets the stored call log (NULL on a failure, logged)
 * @user_data: for @done
 * @user_data_free: (nullable): frees @user_data afterwards
 */
void
natter_hub_call_log_write (NatterHub *self,
                           gint64 call_log_id,
                           const char *status,
                           NatterHubCallLogDone done,
                           gpointer user_data,
                           GDestroyNotify user_data_free)
{
  CallLogJob *job = g_new0 (CallLogJob, 1);

  job->call_log_id = call_log_id;
  job->status = g_strdup (status);
  job->end = status == NULL;
  start_job (self, job, "store a call", done, user_data, user_data_free);
}

/* @done gets the call log (NULL when there is no such call). */
void
natter_hub_call_log_read (NatterHub *self,
                          gint64 call_log_id,
                          NatterHubCallLogDone done,
                          gpointer user_data,
                          GDestroyNotify user_data_free)
{
  CallLogJob *job = g_new0 (CallLogJob, 1);

  job->call_log_id = call_log_id;
  start_job (self, job, "read a call", done, user_data, user_data_free);
}

/* "answered", and whether @caller and @callee were contacts before. */
void
natter_hub_call_log_answer (NatterHub *self,
                            gint64 call_log_id,
                            const NatterProfile *caller,
                            const NatterProfile *callee,
                            NatterHubCallLogDone done,
                            gpointer user_data,
                            GDestroyNotify user_data_free)
{
  CallLogJob *job = g_new0 (CallLogJob, 1);

  job->call_log_id = call_log_id;
  job->status = g_strdup ("answered");
  job->caller = natter_profile_copy (caller);
  job->callee = natter_profile_copy (callee);
  start_job (self, job, "store a call", done, user_data, user_data_free);
}

/* A new "ringing" call. */
void
natter_hub_call_log_create (NatterHub *self,
                            const NatterProfile *caller,
                            const NatterProfile *callee,
                            const char *call_type,
                            gint64 conversation_id,
                            NatterHubCallLogDone done,
                            gpointer user_data,
                            GDestroyNotify user_data_free)
{
  CallLogJob *job = g_new0 (CallLogJob, 1);

  job->caller = natter_profile_copy (caller);
  job->callee = natter_profile_copy (callee);
  job->call_type = g_strdup (call_type);
  job->conversation_id = conversation_id;
  start_job (self, job, "store a call", done, user_data, user_data_free);
}

/* What an invitation needs to know first. */
typedef struct {
  NatterProfile *caller;
  gint64 to_profile_id;
  char *to_profile_type;
  gint64 conversation_id;
} InvitationJob;

static void
invitation_job_free (gpointer data)
{
  InvitationJob *job = data;

  natter_profile_free (job->caller);
  g_free (job->to_profile_type);
  g_free (job);
}

static void
invitation_check_free (gpointer data)
{
  NatterCallInvitationCheck *check = data;

  g_clear_pointer (&check->callee, natter_profile_free);
  g_free (check);
}

/* Where the store runs queries: the check is the result. */
static gpointer
run_invitation_job (NatterStoreQueries *queries, gpointer data, GError **error)
{
  InvitationJob *job = data;
  g_autoptr (GError) local_error = NULL;
  NatterCallInvitationCheck *check = g_new0 (NatterCallInvitationCheck, 1);

  check->callee = natter_store_queries_get_profile (queries, job->to_profile_id,
                                                    job->to_profile_type, &local_error);
  if (check->callee == NULL) {
    if (!g_error_matches (local_error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND)) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      invitation_check_free (check);
      return NULL;
    }
    return check;
  }
  if (natter_profile_equal (check->callee, job->caller))
    return check;
  check->blocked = natter_store_queries_is_blocked_either (queries, job->caller, check->callee);
  check->participants =
    job->conversation_id == 0 ||
    (natter_store_queries_is_participant (queries, job->conversation_id, job->caller) &&
     natter_store_queries_is_participant (queries, job->conversation_id, check->callee));
  return check;
}

typedef struct {
  NatterHubInvitationDone done;
  gpointer user_data;
  GDestroyNotify user_data_free;
} InvitationWait;

static void
invitation_wait_free (gpointer data)
{
  InvitationWait *wait = data;

  if (wait->user_data_free != NULL)
    wait->user_data_free (wait->user_data);
  g_free (wait);
}

static void
on_invitation_checked (NatterHub *self, gpointer result, gpointer user_data)
{
  InvitationWait *wait = user_data;

  wait->done (self, result, wait->user_data);
}

/**
 * natter_hub_call_check_invitation:
 * @self: the hub
 * @caller: who calls
 * @frame: the call_invitation
 * @done: gets the callee and the checks (NULL on a storage failure)
 * @user_data: for @done, freed with @user_data_free afterwards
 * @user_data_free: frees @user_data
 */
void
natter_hub_call_check_invitation (NatterHub *self,
                                  const NatterProfile *caller,
                                  const NatterFrame *frame,
                                  NatterHubInvitationDone done,
                                  gpointer user_data,
                                  GDestroyNotify user_data_free)
{
  InvitationJob *job = g_new0 (InvitationJob, 1);
  InvitationWait *wait = g_new0 (InvitationWait, 1);

  job->caller = natter_profile_copy (caller);
  job->to_profile_id = frame->to_profile_id;
  job->to_profile_type = g_strdup (frame->to_profile_type);
  job->conversation_id = frame->conversation_id;
  wait->done = done;
  wait->user_data = user_data;
  wait->user_data_free = user_data_free;
  natter_hub_query (self, run_invitation_job, job, invitation_job_free, invitation_check_free,
                    "read a callee", on_invitation_checked, wait, invitation_wait_free);
}
