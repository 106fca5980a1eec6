/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-chat-view"

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "natter-format.h"
#include "natter-chat-view-block.h"
#include "natter-chat-view-private.h"
#include "natter-message-row.h"
#include "natter-tail-list-model.h"

/* The chat pane: header with the peer's presence or typing state and the
 * call buttons, the message list (older history loaded when scrolled near
 * the top, a jump button when scrolled away from the bottom), the offline
 * banner and the composer.
 *
 * GtkListView only measures the rows near its anchor and estimates the
 * rest, so the adjustment's upper bound is a guess: setting its value to
 * "the bottom" lands wherever the guess says. The view therefore never
 * sets the value itself; it anchors the list on the newest item
 * (list.scroll-to-item) and, after each frame is drawn, checks the newest
 * row's real allocation and anchors again until that row is on screen.
 * The same after-frame check decides what was seen: only rows drawn inside
 * the visible area of a focused window count as read.
 *
 * The list shows the newest stored messages first and older ones a few
 * rows per frame as it is scrolled up (#NatterTailListModel): GTK 4.8's
 * list view makes up to 200 rows around its anchor, 0.35 s of work when
 * a long conversation opened. */

#define LOAD_OLDER_THRESHOLD_PX 400.0
#define AT_BOTTOM_SLACK_PX 48.0
#define GROUP_WINDOW_US (5 * G_TIME_SPAN_MINUTE)
#define TYPING_REPEAT_US (3 * G_TIME_SPAN_SECOND)
#define TYPING_IDLE_S 5
#define OLDER_PAGE_SIZE 50
#define FIRST_ROWS 24     /* rows made when a conversation opens: more than a screen */
#define OLDER_ROWS_STEP 6 /* stored rows added per frame scrolling up */
#define SEARCH_LIMIT 1000
#define SEARCH_SERVER_PAGE 200
#define SEARCH_SERVER_PAGES 10

enum { PROP_0, PROP_CLIENT, PROP_CONVERSATION, PROP_ONLINE, PROP_SHOW_BACK_BUTTON, N_PROPS };

static GParamSpec *properties[N_PROPS];

enum { START_CALL, N_SIGNALS };

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NatterChatView, natter_chat_view, GTK_TYPE_WIDGET)

static GtkAdjustment *
get_vadjustment (NatterChatView *self)
{
  return gtk_scrolled_window_get_vadjustment (self->scrolled_window);
}

static gboolean
is_at_bottom (NatterChatView *self)
{
  GtkAdjustment *adjustment = get_vadjustment (self);

  return gtk_adjustment_get_value (adjustment) >= gtk_adjustment_get_upper (adjustment) -
                                                    gtk_adjustment_get_page_size (adjustment) -
                                                    AT_BOTTOM_SLACK_PX;
}

void
natter_chat_view_show_toast (NatterChatView *self, const char *title)
{
  GtkWidget *overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);

  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (title));
  else
    g_warning ("%s", title);
}

static void
update_header (NatterChatView *self)
{
  g_autoptr (GDateTime) now = NULL;
  g_autofree char *subtitle = NULL;

  if (self->conversation == NULL) {
    adw_window_title_set_title (self->window_title, "");
    adw_window_title_set_subtitle (self->window_title, "");
    return;
  }

  adw_window_title_set_title (self->window_title,
                              natter_conversation_item_get_title (self->conversation));

  /* Offline, what we knew of the peer is stale: say nothing. */
  if (!self->online) {
    subtitle = NULL;
  } else if (natter_conversation_item_get_typing (self->conversation)) {
    subtitle = g_strdup (_ ("typing…"));
  } else if (natter_conversation_item_get_peer_online (self->conversation)) {
    subtitle = g_strdup (_ ("Online"));
  } else {
    now = g_date_time_new_now_local ();
    subtitle = natter_format_last_seen (
      natter_conversation_item_get_peer_last_seen (self->conversation), now);
  }

  adw_window_title_set_subtitle (self->window_title, subtitle);
}

static void
update_actions (NatterChatView *self)
{
  gboolean has_conversation = self->conversation != NULL && self->client != NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.send", has_conversation);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.start-call",
                                 has_conversation && self->calls_enabled && self->online);
}

static void
update_empty (NatterChatView *self)
{
  /* While history loads the list shows its spinner, not "No Messages". */
  gboolean empty =
    self->messages == NULL || (g_list_model_get_n_items (G_LIST_MODEL (self->messages)) == 0 &&
                               !natter_message_list_get_loading (self->messages));

  gtk_stack_set_visible_child_name (self->content_stack, empty ? "empty" : "messages");
}

static gboolean
window_is_active (NatterChatView *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) && gtk_window_is_active (GTK_WINDOW (root));
}

/* Whether @row was laid out and drawn with its end inside the visible part
 * of the list: what a person can actually read. */
static gboolean
row_is_shown (NatterChatView *self, GtkWidget *row)
{
  graphene_rect_t bounds;
  int viewport_height = gtk_widget_get_height (GTK_WIDGET (self->scrolled_window));

  if (row == NULL || !gtk_widget_is_drawable (row) || gtk_widget_get_height (row) <= 0)
    return FALSE;
  if (!gtk_widget_compute_bounds (row, GTK_WIDGET (self->scrolled_window), &bounds))
    return FALSE;

  /* Rows taller than the view count once their end is shown. */
  return bounds.origin.y + bounds.size.height > 0.5 &&
         bounds.origin.y + bounds.size.height <= viewport_height + 0.5 &&
         (bounds.origin.y >= -0.5 || bounds.size.height > viewport_height);
}

static guint
n_list_items (NatterChatView *self)
{
  GListModel *model = G_LIST_MODEL (gtk_list_view_get_model (self->message_list_view));

  return model != NULL ? g_list_model_get_n_items (model) : 0;
}

/* The newest message's row, if the list has one bound to it. */
static GtkWidget *
find_newest_row (NatterChatView *self)
{
  guint n_items = n_list_items (self);
  GHashTableIter iter;
  gpointer list_item;

  if (n_items == 0)
    return NULL;

  g_hash_table_iter_init (&iter, self->bound_items);
  while (g_hash_table_iter_next (&iter, &list_item, NULL)) {
    if (gtk_list_item_get_position (list_item) == n_items - 1)
      return gtk_list_item_get_child (list_item);
  }

  return NULL;
}

/* A message counts as read once its row has been on screen in a focused
 * window: the read marker goes up to the newest such row, never further. */
static gboolean
on_mark_read_idle (gpointer user_data)
{
  NatterChatView *self = user_data;
  GHashTableIter iter;
  gpointer list_item;
  gint64 seen_seq = 0;

  self->mark_read_id = 0;
  if (self->client == NULL || self->conversation == NULL)
    return G_SOURCE_REMOVE;
  if (!gtk_widget_get_mapped (GTK_WIDGET (self)) || !window_is_active (self))
    return G_SOURCE_REMOVE;

  g_hash_table_iter_init (&iter, self->bound_items);
  while (g_hash_table_iter_next (&iter, &list_item, NULL)) {
    NatterMessageItem *item = gtk_list_item_get_item (list_item);

    if (item == NULL || natter_message_item_get_state (item) != NATTER_MESSAGE_STATE_SENT ||
        natter_message_item_get_conversation_id (item) !=
          natter_conversation_item_get_conversation_id (self->conversation))
      continue;
    if (natter_message_item_get_seq (item) > seen_seq &&
        row_is_shown (self, gtk_list_item_get_child (list_item)))
      seen_seq = natter_message_item_get_seq (item);
  }

  if (seen_seq > 0)
    natter_client_mark_read (
      self->client, natter_conversation_item_get_conversation_id (self->conversation), seen_seq);

  return G_SOURCE_REMOVE;
}

/* Marking read changes the conversation list (unread counts, order). Done
 * while GTK lays the window out (from a scroll adjustment's signals), the
 * sidebar's rows would be resized in the middle of the layout and miss it,
 * and the sidebar, header included, would stay blank ("Trying to snapshot
 * … without a current allocation"). So it waits until the frame is done. */
static void
mark_read_if_seen (NatterChatView *self)
{
  if (self->mark_read_id == 0)
    self->mark_read_id = g_idle_add (on_mark_read_idle, self);
}

/* Anchors the list on its newest item. The list lays out around its
 * anchor with real row heights, unlike a value given to the adjustment. */
static void
scroll_to_newest (NatterChatView *self)
{
  guint n_items = n_list_items (self);

  if (n_items > 0) {
    self->settling = TRUE;
    gtk_widget_activate_action (GTK_WIDGET (self->message_list_view), "list.scroll-to-item", "u",
                                n_items - 1);
  }
  gtk_widget_queue_draw (GTK_WIDGET (self->message_list_view));
}

static void
set_jump_button (NatterChatView *self, gboolean reveal)
{
  gtk_revealer_set_reveal_child (self->jump_revealer, reveal);
  if (!reveal)
    gtk_widget_set_visible (self->jump_label, FALSE);
}

static void maybe_fill_view (NatterChatView *self);
static void maybe_load_older (NatterChatView *self);

/* Runs once a frame has been drawn, when every row has its allocation. */
static void
on_after_paint (NatterChatView *self, GdkFrameClock *frame_clock)
{
  if (self->follow_newest && n_list_items (self) > 0) {
    if (row_is_shown (self, find_newest_row (self))) {
      self->settling = FALSE;
      set_jump_button (self, FALSE);
    } else {
      scroll_to_newest (self);
    }
  } else {
    self->settling = FALSE;
  }

  mark_read_if_seen (self);

  /* Judged once the rows added after the last frame are laid out. */
  if (self->fill_after_paint) {
    self->fill_after_paint = FALSE;
    maybe_fill_view (self);
    maybe_load_older (self);
  }

  if (self->grow_after_paint) {
    self->grow_after_paint = FALSE;
    if (self->shown_messages != NULL &&
        natter_tail_list_model_grow (self->shown_messages, OLDER_ROWS_STEP) > 0) {
      self->fill_after_paint = TRUE;
      gtk_widget_queue_draw (GTK_WIDGET (self->message_list_view));
    }
  }
}

static void
on_window_active_changed (NatterChatView *self)
{
  /* Drawn already; the check only needs a frame to run after. */
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void continue_server_search (NatterChatView *self);
static void update_search_controls (NatterChatView *self);
static void load_older_page (NatterChatView *self, guint limit);

static void
on_load_older_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterChatView) self = user_data;
  g_autoptr (GError) error = NULL;

  natter_message_list_load_older_finish (NATTER_MESSAGE_LIST (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  gtk_revealer_set_reveal_child (self->loading_revealer, FALSE);
  update_empty (self);
  if (error != NULL) {
    g_debug ("Could not load older messages: %s", error->message);
    if (self->search_server_pages_left > 0) {
      self->search_server_pages_left = 0;
      natter_chat_view_show_toast (self, _ ("Older messages could not be fetched"));
      update_search_controls (self);
    }
    return;
  }

  continue_server_search (self);

  /* Judged once the new rows are laid out: before, the list's height is
   * still the old one and page after page would be fetched. */
  self->fill_after_paint = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self->message_list_view));
}

static gboolean
can_load_older (NatterChatView *self)
{
  return self->messages != NULL && natter_message_list_get_has_more (self->messages) &&
         !natter_message_list_get_loading (self->messages);
}

static void
load_older_page (NatterChatView *self, guint limit)
{
  gtk_revealer_set_reveal_child (self->loading_revealer, TRUE);
  natter_message_list_load_older_async (self->messages, limit, self->load_cancellable,
                                        on_load_older_finished, g_object_ref (self));
  update_empty (self);
}

static void
load_older (NatterChatView *self)
{
  load_older_page (self, OLDER_PAGE_SIZE);
}

/* Stored messages not shown yet come first, a few rows after the next
 * frame: growing the list from its own adjustment's signals would change
 * it in the middle of its layout. */
static void
show_older_rows (NatterChatView *self)
{
  self->grow_after_paint = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self->message_list_view));
}

static void
maybe_load_older (NatterChatView *self)
{
  GtkAdjustment *adjustment = get_vadjustment (self);

  if (self->messages == NULL || self->follow_newest)
    return;
  if (gtk_adjustment_get_value (adjustment) > LOAD_OLDER_THRESHOLD_PX)
    return;
  if (natter_tail_list_model_get_start (self->shown_messages) > 0)
    show_older_rows (self);
  else if (can_load_older (self))
    load_older (self);
}

/* The local store may hold none or only a few of the conversation's
 * messages (a new computer, history never scrolled to): older pages come
 * from the server until the view is full, there is nothing older, or the
 * list is not on screen to measure. */
static void
maybe_fill_view (NatterChatView *self)
{
  GtkAdjustment *adjustment = get_vadjustment (self);
  gboolean more_stored;

  if (self->messages == NULL)
    return;
  more_stored = natter_tail_list_model_get_start (self->shown_messages) > 0;
  if (!more_stored && !can_load_older (self))
    return;
  if (g_list_model_get_n_items (G_LIST_MODEL (self->messages)) > 0 &&
      (!gtk_widget_get_mapped (GTK_WIDGET (self->message_list_view)) ||
       gtk_adjustment_get_upper (adjustment) >
         gtk_adjustment_get_page_size (adjustment) + LOAD_OLDER_THRESHOLD_PX))
    return;

  if (more_stored)
    show_older_rows (self);
  else
    load_older (self);
}

static void
on_vadjustment_value_changed (NatterChatView *self)
{
  GtkAdjustment *adjustment = get_vadjustment (self);
  double value = gtk_adjustment_get_value (adjustment);
  gboolean at_bottom = is_at_bottom (self);

  /* A move up that leaves the very end is the user's: the list itself only
   * moves up while following when its end moves up (rows re-measured
   * smaller). A move down close to the end follows the newest again. */
  if (!self->settling && value < self->last_value - 0.5 &&
      value < gtk_adjustment_get_upper (adjustment) - gtk_adjustment_get_page_size (adjustment) - 1)
    self->follow_newest = FALSE;
  else if (value > self->last_value && at_bottom)
    self->follow_newest = TRUE;
  self->last_value = value;

  if (!self->follow_newest)
    gtk_revealer_set_reveal_child (self->jump_revealer, TRUE);
  else if (at_bottom)
    set_jump_button (self, FALSE);

  maybe_load_older (self);
  gtk_widget_queue_draw (GTK_WIDGET (self->message_list_view));
}

/* The list's height grows as rows are measured and older history comes
 * in; the list keeps its anchor item in place by itself. */
static void
on_vadjustment_bounds_changed (NatterChatView *self)
{
  if (self->follow_newest)
    scroll_to_newest (self);

  maybe_fill_view (self);
}

static const char *
active_search_text (NatterChatView *self)
{
  const char *text;

  if (!gtk_search_bar_get_search_mode (self->search_bar))
    return NULL;

  text = gtk_editable_get_text (self->search_entry);
  return text != NULL && *text != '\0' ? text : NULL;
}

static gint64
current_match_seq (NatterChatView *self)
{
  if (self->search_current < 0 || (guint) self->search_current >= self->search_hits->len)
    return 0;

  return g_array_index (self->search_hits, NatterSearchHit, self->search_current).seq;
}

static void
refresh_row_context (NatterChatView *self, GtkListItem *list_item)
{
  GtkWidget *row = gtk_list_item_get_child (list_item);
  NatterMessageItem *item = gtk_list_item_get_item (list_item);
  guint position = gtk_list_item_get_position (list_item);
  g_autoptr (NatterMessageItem) previous = NULL;
  g_autoptr (GDateTime) sent_at = NULL;
  g_autoptr (GDateTime) previous_sent_at = NULL;
  gboolean show_day = TRUE;
  gboolean grouped = FALSE;
  gboolean read = FALSE;

  if (item == NULL || row == NULL || self->messages == NULL)
    return;

  if (position != GTK_INVALID_LIST_POSITION && self->shown_messages != NULL)
    position += natter_tail_list_model_get_start (self->shown_messages);
  if (position != GTK_INVALID_LIST_POSITION && position > 0)
    previous = g_list_model_get_item (G_LIST_MODEL (self->messages), position - 1);

  sent_at = natter_parse_local_time (natter_message_item_get_sent_at (item));
  if (previous != NULL) {
    previous_sent_at = natter_parse_local_time (natter_message_item_get_sent_at (previous));
    if (sent_at != NULL && previous_sent_at != NULL) {
      const NatterProfile *sender = natter_message_item_get_sender (item);
      const NatterProfile *previous_sender = natter_message_item_get_sender (previous);

      show_day =
        g_date_time_get_year (sent_at) != g_date_time_get_year (previous_sent_at) ||
        g_date_time_get_day_of_year (sent_at) != g_date_time_get_day_of_year (previous_sent_at);
      grouped =
        !show_day && natter_message_item_get_call (item) == NULL &&
        natter_message_item_get_call (previous) == NULL &&
        natter_message_item_get_outgoing (item) == natter_message_item_get_outgoing (previous) &&
        sender != NULL && previous_sender != NULL &&
        natter_profile_equal (sender, previous_sender) &&
        g_date_time_difference (sent_at, previous_sent_at) < GROUP_WINDOW_US;
    } else {
      show_day = FALSE;
    }
  }

  if (self->conversation != NULL && natter_message_item_get_outgoing (item) &&
      natter_message_item_get_state (item) == NATTER_MESSAGE_STATE_SENT) {
    gint64 seq = natter_message_item_get_seq (item);

    read = seq > 0 && seq <= natter_conversation_item_get_peer_read_seq (self->conversation);
  }

  natter_message_row_set_context (NATTER_MESSAGE_ROW (row), show_day, grouped, read);
  natter_message_row_set_highlight (NATTER_MESSAGE_ROW (row), active_search_text (self),
                                    natter_message_item_get_seq (item) > 0 &&
                                      natter_message_item_get_seq (item) ==
                                        current_match_seq (self));
}

static void
refresh_bound_rows (NatterChatView *self)
{
  GHashTableIter iter;
  gpointer list_item;

  g_hash_table_iter_init (&iter, self->bound_items);
  while (g_hash_table_iter_next (&iter, &list_item, NULL))
    refresh_row_context (self, list_item);
}

static void
update_search_controls (NatterChatView *self)
{
  const char *text = active_search_text (self);
  guint n_hits = self->search_hits->len;
  gboolean searching_server = self->search_server_pages_left > 0;
  g_autofree char *count = NULL;

  if (text == NULL)
    count = g_strdup ("");
  else if (n_hits == 0)
    count = g_strdup (searching_server ? _ ("Searching…") : _ ("No matches"));
  else
    /* Translators: the match shown and how many there are, "3 of 12" */
    count = g_strdup_printf (_ ("%d of %u"), self->search_current + 1, n_hits);
  gtk_label_set_label (self->search_count_label, count);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.search-previous",
                                 n_hits > 0 && self->search_current > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.search-next",
                                 n_hits > 0 && (guint) self->search_current + 1 < n_hits);
  /* Nothing here: older history the store never fetched may hold it. */
  gtk_widget_set_visible (self->search_server_button,
                          text != NULL && n_hits == 0 && self->messages != NULL &&
                            natter_message_list_get_has_more (self->messages));
  gtk_widget_set_sensitive (self->search_server_button, !searching_server);
}

static void
show_current_match (NatterChatView *self)
{
  gint64 seq = current_match_seq (self);
  guint position;

  if (self->messages == NULL || seq <= 0)
    return;

  position = natter_tail_list_model_show_position (
    self->shown_messages, natter_message_list_get_position_for_seq (self->messages, seq));
  self->follow_newest = FALSE;
  self->settling = FALSE;
  gtk_widget_activate_action (GTK_WIDGET (self->message_list_view), "list.scroll-to-item", "u",
                              position);
  refresh_bound_rows (self);
}

/* Runs the search again over the store; @keep_seq keeps that match shown
 * if it is still one, otherwise the newest match is shown. */
static void
run_search (NatterChatView *self, gint64 keep_seq)
{
  NatterStore *store = self->client ? natter_client_get_store (self->client) : NULL;
  const char *text = active_search_text (self);

  g_array_set_size (self->search_hits, 0);
  self->search_current = -1;

  if (text != NULL && store != NULL && self->conversation != NULL) {
    g_autoptr (GArray) hits = natter_store_search_messages (
      store, natter_conversation_item_get_conversation_id (self->conversation), text, SEARCH_LIMIT);

    g_array_append_vals (self->search_hits, hits->data, hits->len);
    self->search_current = (int) hits->len - 1;
    for (guint i = 0; i < hits->len; i++) {
      if (g_array_index (hits, NatterSearchHit, i).seq == keep_seq)
        self->search_current = i;
    }
  }

  update_search_controls (self);
  refresh_bound_rows (self);
  if (self->search_current >= 0)
    show_current_match (self);
}

static void
on_search_changed (NatterChatView *self)
{
  self->search_server_pages_left = 0;
  run_search (self, 0);
}

static void
step_match (NatterChatView *self, int step)
{
  int next = self->search_current + step;

  if (next < 0 || (guint) next >= self->search_hits->len)
    return;

  self->search_current = next;
  update_search_controls (self);
  show_current_match (self);
}

static void
on_search_older (NatterChatView *self)
{
  step_match (self, -1);
}

static void
on_search_newer (NatterChatView *self)
{
  step_match (self, 1);
}

static void
on_search_stop (NatterChatView *self)
{
  gtk_search_bar_set_search_mode (self->search_bar, FALSE);
}

static void
on_search_mode_changed (NatterChatView *self)
{
  if (gtk_search_bar_get_search_mode (self->search_bar)) {
    gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
  } else {
    self->search_server_pages_left = 0;
    gtk_editable_set_text (self->search_entry, "");
  }

  run_search (self, 0);
}

/* "Search older messages on the server": after each page of history
 * (fetched for the search or for any other reason) the search runs again
 * over the store, and the next page is asked for until a match turns up,
 * the history ends or the pages allowed per request are spent. */
static void
continue_server_search (NatterChatView *self)
{
  if (self->search_server_pages_left == 0)
    return;

  run_search (self, 0);
  if (self->search_hits->len > 0 || self->messages == NULL ||
      !natter_message_list_get_has_more (self->messages)) {
    self->search_server_pages_left = 0;
  } else if (can_load_older (self)) {
    self->search_server_pages_left--;
    load_older_page (self, SEARCH_SERVER_PAGE);
  }

  update_search_controls (self);
}

static void
on_message_setup (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  gtk_list_item_set_child (list_item, natter_message_row_new ());
  gtk_list_item_set_activatable (list_item, FALSE);
  gtk_list_item_set_selectable (list_item, FALSE);
}

/* GTK 4.8's list view puts a row widget it has just made among the rows it
 * has, and at the next style update the list passes all that is new about
 * that row (its parent, its root, animations to start) on to every row
 * after it. Each of those then drops its style cache and computes the style
 * of every node inside it again, about 4 a row: growing the list at its top
 * while scrolling up did that for every row below, each frame (800 styles
 * with 200 rows, the frame's largest cost). The changes of a hidden row are
 * not passed on, so the new row gets its style while hidden and is then
 * shown: the rows after it only learn that a sibling was shown, which none
 * of their styles depends on. */
static void
style_row_before_others (GtkWidget *list_row)
{
  GdkRGBA color;

  gtk_widget_set_visible (list_row, FALSE);
#if GTK_CHECK_VERSION(4, 10, 0)
  gtk_widget_get_color (list_row, &color);
#else
  gtk_style_context_get_color (gtk_widget_get_style_context (list_row), &color);
#endif
  gtk_widget_set_visible (list_row, TRUE);
}

static void
on_message_bind (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  NatterChatView *self = NATTER_CHAT_VIEW (user_data);
  NatterMessageRow *row = NATTER_MESSAGE_ROW (gtk_list_item_get_child (list_item));
  NatterMessageItem *item = gtk_list_item_get_item (list_item);
  GtkWidget *list_row = gtk_widget_get_parent (GTK_WIDGET (row));

  g_hash_table_add (self->bound_items, list_item);
  /* Bound again to its own item (see on_message_unbind ()): nothing to do. */
  if (natter_message_row_get_item (row) == item)
    return;

  /* A row without an item was just made, and GTK binds it as it puts it
   * in the list: above other rows when older messages are shown. */
  if (natter_message_row_get_item (row) == NULL && list_row != NULL &&
      gtk_widget_get_parent (list_row) != NULL && gtk_widget_get_next_sibling (list_row) != NULL)
    style_row_before_others (list_row);

  natter_message_row_set_item (row, item);
  refresh_row_context (self, list_item);
}

/* GTK 4.8's list item factory unbinds and binds every row again whenever
 * the positions change: each frame that shows older messages at the top,
 * all ~200 rows. The row keeps its item, so binding it to the same item
 * again costs nothing; a row bound to another item is updated then, and
 * one GTK drops lets go of its item when it is disposed. */
static void
on_message_unbind (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  NatterChatView *self = NATTER_CHAT_VIEW (user_data);

  g_hash_table_remove (self->bound_items, list_item);
}

/* Connected to the list view's model after the list view, so the list
 * already knows the new items. */
static void
on_messages_items_changed (
  NatterChatView *self, guint position, guint removed, guint added, GListModel *model)
{
  guint n_items = g_list_model_get_n_items (model);

  if (added > 0 && position + added == n_items) {
    if (self->follow_newest) {
      scroll_to_newest (self);
    } else {
      /* Scrolled up: say there is something new instead of jumping. */
      gtk_widget_set_visible (self->jump_label, TRUE);
      gtk_revealer_set_reveal_child (self->jump_revealer, TRUE);
    }
  }

  update_empty (self);
  /* Only the row after the change has new neighbours; new rows get their
   * context when bound. Refreshing every row for each of a page's
   * messages made loading history take seconds. */
  {
    GHashTableIter iter;
    gpointer list_item;

    g_hash_table_iter_init (&iter, self->bound_items);
    while (g_hash_table_iter_next (&iter, &list_item, NULL)) {
      guint item_position = gtk_list_item_get_position (list_item);

      if (item_position >= position && item_position <= position + added)
        refresh_row_context (self, list_item);
    }
  }
  gtk_widget_queue_draw (GTK_WIDGET (self->message_list_view));
}

static void
on_conversation_notify (NatterChatView *self)
{
  update_header (self);
  refresh_bound_rows (self);
}

static gboolean
on_typing_idle (gpointer user_data)
{
  NatterChatView *self = user_data;

  self->typing_idle_id = 0;
  self->typing_sent_at = 0;
  if (self->client != NULL && self->conversation != NULL)
    natter_client_set_typing (
      self->client, natter_conversation_item_get_conversation_id (self->conversation), FALSE);

  return G_SOURCE_REMOVE;
}

static void
stop_typing (NatterChatView *self)
{
  if (self->typing_idle_id == 0)
    return;

  g_clear_handle_id (&self->typing_idle_id, g_source_remove);
  on_typing_idle (self);
}

static void
on_buffer_changed (NatterChatView *self, GtkTextBuffer *buffer)
{
  gint64 now;

  /* GtkTextView has no placeholder of its own. */
  gtk_widget_set_visible (self->placeholder, gtk_text_buffer_get_char_count (buffer) == 0);

  if (self->client == NULL || self->conversation == NULL || self->loading_draft)
    return;

  natter_chat_view_queue_draft_save (self);

  if (gtk_text_buffer_get_char_count (buffer) == 0) {
    stop_typing (self);
    return;
  }

  /* Tell the peer at most every few seconds, and that we stopped once the
   * composer has been quiet for a while. */
  now = g_get_monotonic_time ();
  if (self->typing_sent_at == 0 || now - self->typing_sent_at > TYPING_REPEAT_US) {
    self->typing_sent_at = now;
    natter_client_set_typing (
      self->client, natter_conversation_item_get_conversation_id (self->conversation), TRUE);
  }

  g_clear_handle_id (&self->typing_idle_id, g_source_remove);
  self->typing_idle_id = g_timeout_add_seconds (TYPING_IDLE_S, on_typing_idle, self);
}

static gboolean
on_text_view_key_pressed (NatterChatView *self,
                          guint keyval,
                          guint keycode,
                          GdkModifierType state,
                          GtkEventControllerKey *controller)
{
  g_autoptr (GError) error = NULL;

  if (keyval != GDK_KEY_Return && keyval != GDK_KEY_KP_Enter && keyval != GDK_KEY_ISO_Enter)
    return GDK_EVENT_PROPAGATE;

  /* Shift+Enter is a new line, as in every chat application. */
  if (state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK | GDK_ALT_MASK))
    return GDK_EVENT_PROPAGATE;

  if (!natter_chat_view_send_draft (self, &error) && error != NULL)
    natter_chat_view_show_toast (self, error->message);

  return GDK_EVENT_STOP;
}

static void
on_send_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterChatView *self = NATTER_CHAT_VIEW (widget);
  g_autoptr (GError) error = NULL;

  if (!natter_chat_view_send_draft (self, &error) && error != NULL)
    natter_chat_view_show_toast (self, error->message);
}

static void
on_retry_message_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterChatView *self = NATTER_CHAT_VIEW (widget);
  g_autoptr (GError) error = NULL;

  if (self->client == NULL)
    return;

  if (!natter_client_retry_message (self->client, g_variant_get_string (parameter, NULL), &error))
    natter_chat_view_show_toast (self, error ? error->message
                                             : _ ("The message could not be sent again"));
}

static void
on_start_call_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterChatView *self = NATTER_CHAT_VIEW (widget);

  if (self->conversation == NULL)
    return;

  g_signal_emit (self, signals[START_CALL], 0, g_variant_get_string (parameter, NULL));
}

static void
on_search_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterChatView *self = NATTER_CHAT_VIEW (widget);

  if (self->conversation == NULL)
    return;

  gtk_search_bar_set_search_mode (self->search_bar, TRUE);
  gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

static void
on_search_previous_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  on_search_older (NATTER_CHAT_VIEW (widget));
}

static void
on_search_next_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  on_search_newer (NATTER_CHAT_VIEW (widget));
}

static void
on_search_server_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterChatView *self = NATTER_CHAT_VIEW (widget);

  if (self->messages == NULL || self->search_server_pages_left > 0)
    return;

  /* A page already on its way counts as the first. */
  self->search_server_pages_left = SEARCH_SERVER_PAGES;
  if (can_load_older (self)) {
    self->search_server_pages_left--;
    load_older_page (self, SEARCH_SERVER_PAGE);
  }
  update_search_controls (self);
}

static void
on_scroll_to_bottom_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  natter_chat_view_scroll_to_bottom (NATTER_CHAT_VIEW (widget));
}

static void
natter_chat_view_realize (GtkWidget *widget)
{
  NatterChatView *self = NATTER_CHAT_VIEW (widget);
  GtkRoot *root;

  GTK_WIDGET_CLASS (natter_chat_view_parent_class)->realize (widget);

  self->frame_clock = g_object_ref (gtk_widget_get_frame_clock (widget));
  self->after_paint_handler = g_signal_connect_object (
    self->frame_clock, "after-paint", G_CALLBACK (on_after_paint), self, G_CONNECT_SWAPPED);

  root = gtk_widget_get_root (widget);
  if (GTK_IS_WINDOW (root)) {
    self->window = g_object_ref (GTK_WINDOW (root));
    self->window_active_handler =
      g_signal_connect_object (self->window, "notify::is-active",
                               G_CALLBACK (on_window_active_changed), self, G_CONNECT_SWAPPED);
  }
}

static void
natter_chat_view_unrealize (GtkWidget *widget)
{
  NatterChatView *self = NATTER_CHAT_VIEW (widget);

  if (self->frame_clock != NULL)
    g_clear_signal_handler (&self->after_paint_handler, self->frame_clock);
  g_clear_object (&self->frame_clock);
  if (self->window != NULL)
    g_clear_signal_handler (&self->window_active_handler, self->window);
  g_clear_object (&self->window);

  GTK_WIDGET_CLASS (natter_chat_view_parent_class)->unrealize (widget);
}

static void
natter_chat_view_map (GtkWidget *widget)
{
  NatterChatView *self = NATTER_CHAT_VIEW (widget);

  GTK_WIDGET_CLASS (natter_chat_view_parent_class)->map (widget);

  if (self->follow_newest)
    scroll_to_newest (self);
  gtk_widget_queue_draw (widget);
}

static void
natter_chat_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterChatView *self = NATTER_CHAT_VIEW (object);

  switch (prop_id) {
    case PROP_CLIENT:
      g_value_set_object (value, self->client);
      break;
    case PROP_CONVERSATION:
      g_value_set_object (value, self->conversation);
      break;
    case PROP_ONLINE:
      g_value_set_boolean (value, self->online);
      break;
    case PROP_SHOW_BACK_BUTTON:
      g_value_set_boolean (value, self->show_back_button);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_chat_view_set_property (GObject *object,
                               guint prop_id,
                               const GValue *value,
                               GParamSpec *pspec)
{
  NatterChatView *self = NATTER_CHAT_VIEW (object);

  switch (prop_id) {
    case PROP_CLIENT:
      natter_chat_view_set_client (self, g_value_get_object (value));
      break;
    case PROP_CONVERSATION:
      natter_chat_view_set_conversation (self, g_value_get_object (value));
      break;
    case PROP_ONLINE:
      natter_chat_view_set_online (self, g_value_get_boolean (value));
      break;
    case PROP_SHOW_BACK_BUTTON:
      natter_chat_view_set_show_back_button (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_chat_view_dispose (GObject *object)
{
  NatterChatView *self = NATTER_CHAT_VIEW (object);

  g_cancellable_cancel (self->load_cancellable);
  g_clear_handle_id (&self->typing_idle_id, g_source_remove);
  g_clear_handle_id (&self->mark_read_id, g_source_remove);
  if (self->save_draft_id != 0)
    natter_chat_view_save_draft (self);
  natter_chat_view_set_conversation (self, NULL);
  g_clear_object (&self->client);

  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_CHAT_VIEW);
  /* The template's top-level children are not bound, so unparent them too. */
  {
    GtkWidget *child;

    while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
      gtk_widget_unparent (child);
  }

  G_OBJECT_CLASS (natter_chat_view_parent_class)->dispose (object);
}

static void
natter_chat_view_finalize (GObject *object)
{
  NatterChatView *self = NATTER_CHAT_VIEW (object);

  g_clear_object (&self->load_cancellable);
  g_clear_object (&self->thumbnail_loader);
  g_clear_pointer (&self->bound_items, g_hash_table_unref);
  g_clear_pointer (&self->search_hits, g_array_unref);

  G_OBJECT_CLASS (natter_chat_view_parent_class)->finalize (object);
}

static void
natter_chat_view_class_init (NatterChatViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_chat_view_get_property;
  object_class->set_property = natter_chat_view_set_property;
  object_class->dispose = natter_chat_view_dispose;
  object_class->finalize = natter_chat_view_finalize;
  widget_class->map = natter_chat_view_map;
  widget_class->realize = natter_chat_view_realize;
  widget_class->unrealize = natter_chat_view_unrealize;

  properties[PROP_CLIENT] =
    g_param_spec_object ("client", NULL, NULL, NATTER_TYPE_CLIENT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONVERSATION] =
    g_param_spec_object ("conversation", NULL, NULL, NATTER_TYPE_CONVERSATION_ITEM,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ONLINE] =
    g_param_spec_boolean ("online", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SHOW_BACK_BUTTON] =
    g_param_spec_boolean ("show-back-button", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterChatView::start-call:
   * @call_type: "voice" or "video"
   *
   * The user asked to call the peer of the conversation shown.
   */
  signals[START_CALL] = g_signal_new ("start-call", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                      NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/natter/Natter/natter-chat-view.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, window_title);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, back_button);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, offline_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, content_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, scrolled_window);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, message_list_view);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, loading_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, jump_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, jump_label);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, text_view);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, placeholder);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, emoji_button);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, attachment_tray);
  gtk_widget_class_bind_template_callback (widget_class, on_message_setup);
  gtk_widget_class_bind_template_callback (widget_class, on_message_bind);
  gtk_widget_class_bind_template_callback (widget_class, on_message_unbind);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, search_bar);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, search_entry);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, search_count_label);
  gtk_widget_class_bind_template_child (widget_class, NatterChatView, search_server_button);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_search_stop);
  /* Matches are walked from the newest back in time: Enter goes older. */
  gtk_widget_class_bind_template_callback_full (widget_class, "on_search_next",
                                                G_CALLBACK (on_search_older));
  gtk_widget_class_bind_template_callback_full (widget_class, "on_search_previous",
                                                G_CALLBACK (on_search_newer));

  gtk_widget_class_install_action (widget_class, "chat.send", NULL, on_send_action);
  gtk_widget_class_install_action (widget_class, "chat.retry-message", "s",
                                   on_retry_message_action);
  gtk_widget_class_install_action (widget_class, "chat.start-call", "s", on_start_call_action);
  natter_chat_view_install_block_action (widget_class);
  natter_chat_view_install_attachment_actions (widget_class);
  gtk_widget_class_install_action (widget_class, "chat.scroll-to-bottom", NULL,
                                   on_scroll_to_bottom_action);

  gtk_widget_class_install_action (widget_class, "chat.search", NULL, on_search_action);
  gtk_widget_class_install_action (widget_class, "chat.search-previous", NULL,
                                   on_search_previous_action);
  gtk_widget_class_install_action (widget_class, "chat.search-next", NULL, on_search_next_action);
  gtk_widget_class_install_action (widget_class, "chat.search-server", NULL,
                                   on_search_server_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_End, GDK_CONTROL_MASK,
                                       "chat.scroll-to-bottom", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_f, GDK_CONTROL_MASK, "chat.search",
                                       NULL);

  gtk_widget_class_set_css_name (widget_class, "natter-chat-view");
}

static void
natter_chat_view_init (NatterChatView *self)
{
  GtkEventController *key_controller;
  GtkAdjustment *adjustment;

  self->bound_items = g_hash_table_new (NULL, NULL);
  self->search_hits = g_array_new (FALSE, FALSE, sizeof (NatterSearchHit));
  self->search_current = -1;
  self->load_cancellable = g_cancellable_new ();
  self->online = TRUE;
  self->follow_newest = TRUE;

  gtk_widget_init_template (GTK_WIDGET (self));
  natter_chat_view_setup_attachments (self);
  natter_chat_view_setup_emoji (self);

  g_signal_connect_object (self->search_bar, "notify::search-mode-enabled",
                           G_CALLBACK (on_search_mode_changed), self, G_CONNECT_SWAPPED);
  gtk_search_bar_connect_entry (self->search_bar, GTK_EDITABLE (self->search_entry));

  key_controller = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (key_controller, GTK_PHASE_CAPTURE);
  g_signal_connect_object (key_controller, "key-pressed", G_CALLBACK (on_text_view_key_pressed),
                           self, G_CONNECT_SWAPPED);
  gtk_widget_add_controller (GTK_WIDGET (self->text_view), key_controller);

  g_signal_connect_object (gtk_text_view_get_buffer (self->text_view), "changed",
                           G_CALLBACK (on_buffer_changed), self, G_CONNECT_SWAPPED);

  adjustment = get_vadjustment (self);
  g_signal_connect_object (adjustment, "value-changed", G_CALLBACK (on_vadjustment_value_changed),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (adjustment, "notify::upper", G_CALLBACK (on_vadjustment_bounds_changed),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (adjustment, "notify::page-size",
                           G_CALLBACK (on_vadjustment_bounds_changed), self, G_CONNECT_SWAPPED);

  update_empty (self);
  update_actions (self);
  update_search_controls (self);
}

/**
 * natter_chat_view_new:
 *
 * Returns: (transfer floating): a new chat view showing no conversation
 */
GtkWidget *
natter_chat_view_new (void)
{
  return g_object_new (NATTER_TYPE_CHAT_VIEW, NULL);
}

/**
 * natter_chat_view_get_client:
 * @self: a #NatterChatView
 *
 * Returns: (transfer none) (nullable): the client messages are sent through
 */
NatterClient *
natter_chat_view_get_client (NatterChatView *self)
{
  g_return_val_if_fail (NATTER_IS_CHAT_VIEW (self), NULL);

  return self->client;
}

/**
 * natter_chat_view_set_client:
 * @self: a #NatterChatView
 * @client: (nullable): the signed-in client
 */
void
natter_chat_view_set_client (NatterChatView *self, NatterClient *client)
{
  g_return_if_fail (NATTER_IS_CHAT_VIEW (self));
  g_return_if_fail (client == NULL || NATTER_IS_CLIENT (client));

  if (self->client == client)
    return;

  natter_chat_view_set_conversation (self, NULL);
  g_set_object (&self->client, client);
  update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLIENT]);
}

/**
 * natter_chat_view_get_conversation:
 * @self: a #NatterChatView
 *
 * Returns: (transfer none) (nullable): the conversation shown
 */
NatterConversationItem *
natter_chat_view_get_conversation (NatterChatView *self)
{
  g_return_val_if_fail (NATTER_IS_CHAT_VIEW (self), NULL);

  return self->conversation;
}

/**
 * natter_chat_view_set_conversation:
 * @self: a #NatterChatView
 * @conversation: (nullable): the conversation to show; needs a client
 */
void
natter_chat_view_set_conversation (NatterChatView *self, NatterConversationItem *conversation)
{
  g_autoptr (GtkNoSelection) selection = NULL;

  g_return_if_fail (NATTER_IS_CHAT_VIEW (self));
  g_return_if_fail (conversation == NULL || NATTER_IS_CONVERSATION_ITEM (conversation));
  g_return_if_fail (conversation == NULL || self->client != NULL);

  if (self->conversation == conversation)
    return;

  stop_typing (self);
  if (self->save_draft_id != 0)
    natter_chat_view_save_draft (self);
  g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  self->load_cancellable = g_cancellable_new ();
  gtk_revealer_set_reveal_child (self->loading_revealer, FALSE);

  if (self->conversation != NULL)
    g_clear_signal_handler (&self->conversation_notify_handler, self->conversation);
  if (self->selection != NULL)
    g_clear_signal_handler (&self->items_changed_handler, self->selection);
  g_clear_object (&self->selection);

  gtk_list_view_set_model (self->message_list_view, NULL);
  g_clear_object (&self->shown_messages);
  g_clear_object (&self->messages);
  self->grow_after_paint = FALSE;
  g_set_object (&self->conversation, conversation);

  if (conversation != NULL) {
    gint64 conversation_id = natter_conversation_item_get_conversation_id (conversation);

    self->conversation_notify_handler = g_signal_connect_object (
      conversation, "notify", G_CALLBACK (on_conversation_notify), self, G_CONNECT_SWAPPED);
    self->messages = natter_client_open_conversation (self->client, conversation_id);
  }

  if (self->messages != NULL) {
    self->shown_messages = natter_tail_list_model_new (G_LIST_MODEL (self->messages), FIRST_ROWS);
    selection = gtk_no_selection_new (G_LIST_MODEL (g_object_ref (self->shown_messages)));
    gtk_list_view_set_model (self->message_list_view, GTK_SELECTION_MODEL (selection));
    self->selection = GTK_SELECTION_MODEL (g_object_ref (selection));
    self->items_changed_handler = g_signal_connect_object (
      selection, "items-changed", G_CALLBACK (on_messages_items_changed), self, G_CONNECT_SWAPPED);
  }

  self->follow_newest = TRUE;
  self->last_value = 0;
  set_jump_button (self, FALSE);
  natter_chat_view_load_draft (self);
  self->search_server_pages_left = 0;
  gtk_search_bar_set_search_mode (self->search_bar, FALSE);

  update_header (self);
  update_empty (self);
  update_actions (self);
  natter_chat_view_scroll_to_bottom (self);
  maybe_fill_view (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONVERSATION]);
}

/**
 * natter_chat_view_get_messages:
 * @self: a #NatterChatView
 *
 * Returns: (transfer none) (nullable): the messages of the conversation shown
 */
GListModel *
natter_chat_view_get_messages (NatterChatView *self)
{
  g_return_val_if_fail (NATTER_IS_CHAT_VIEW (self), NULL);

  return self->messages ? G_LIST_MODEL (self->messages) : NULL;
}

gboolean
natter_chat_view_get_online (NatterChatView *self)
{
  g_return_val_if_fail (NATTER_IS_CHAT_VIEW (self), FALSE);

  return self->online;
}

/**
 * natter_chat_view_set_online:
 * @self: a #NatterChatView
 * @online: whether the connection is up; when not, a banner says messages
 *   will go out later
 */
void
natter_chat_view_set_online (NatterChatView *self, gboolean online)
{
  g_return_if_fail (NATTER_IS_CHAT_VIEW (self));

  online = !!online;
  if (self->online == online)
    return;

  self->online = online;
  gtk_revealer_set_reveal_child (self->offline_revealer, !online);
  update_actions (self);
  update_header (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ONLINE]);
}

gboolean
natter_chat_view_get_show_back_button (NatterChatView *self)
{
  g_return_val_if_fail (NATTER_IS_CHAT_VIEW (self), FALSE);

  return self->show_back_button;
}

/**
 * natter_chat_view_set_show_back_button:
 * @self: a #NatterChatView
 * @show_back_button: whether the header offers a way back to the sidebar
 *   (the window is narrow)
 */
void
natter_chat_view_set_show_back_button (NatterChatView *self, gboolean show_back_button)
{
  g_return_if_fail (NATTER_IS_CHAT_VIEW (self));

  show_back_button = !!show_back_button;
  if (self->show_back_button == show_back_button)
    return;

  self->show_back_button = show_back_button;
  gtk_widget_set_visible (self->back_button, show_back_button);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW_BACK_BUTTON]);
}

/**
 * natter_chat_view_set_calls_enabled:
 * @self: a #NatterChatView
 * @enabled: whether calls can be started now
 */
void
natter_chat_view_set_calls_enabled (NatterChatView *self, gboolean enabled)
{
  g_return_if_fail (NATTER_IS_CHAT_VIEW (self));

  self->calls_enabled = !!enabled;
  update_actions (self);
}

/**
 * natter_chat_view_set_draft:
 * @self: a #NatterChatView
 * @text: (nullable): what the composer holds
 */
void
natter_chat_view_set_draft (NatterChatView *self, const char *text)
{
  g_return_if_fail (NATTER_IS_CHAT_VIEW (self));

  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->text_view), text ? text : "", -1);
}

/**
 * natter_chat_view_send_draft:
 * @self: a #NatterChatView
 * @error: return location for an error
 *
 * Sends what the composer holds, text and attached files, and empties it.
 * Blank text without files is not sent. While offline the message waits
 * in the outbox.
 *
 * Returns: %TRUE if a message was queued
 */
gboolean
natter_chat_view_send_draft (NatterChatView *self, GError **error)
{
  GtkTextBuffer *buffer;
  GtkTextIter start, end;
  g_autofree char *text = NULL;
  g_autofree char *client_msg_id = NULL;

  g_return_val_if_fail (NATTER_IS_CHAT_VIEW (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->client == NULL || self->conversation == NULL)
    return FALSE;

  buffer = gtk_text_view_get_buffer (self->text_view);
  gtk_text_buffer_get_bounds (buffer, &start, &end);
  text = gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
  g_strstrip (text);
  if (natter_chat_view_has_attachments (self))
    client_msg_id = natter_chat_view_send_attachments (self, text, error);
  else if (*text != '\0')
    client_msg_id = natter_client_send_message (
      self->client, natter_conversation_item_get_conversation_id (self->conversation), text, error);
  if (client_msg_id == NULL)
    return FALSE;

  stop_typing (self);
  gtk_text_buffer_set_text (buffer, "", -1);
  /* Sent: no draft to bring back, even after a crash a moment later. */
  natter_chat_view_save_draft (self);
  natter_chat_view_scroll_to_bottom (self);

  return TRUE;
}

/**
 * natter_chat_view_scroll_to_bottom:
 * @self: a #NatterChatView
 *
 * Shows the newest message and keeps following new ones.
 */
void
natter_chat_view_scroll_to_bottom (NatterChatView *self)
{
  g_return_if_fail (NATTER_IS_CHAT_VIEW (self));

  self->follow_newest = TRUE;
  set_jump_button (self, FALSE);
  scroll_to_newest (self);
}

/**
 * natter_chat_view_focus_composer:
 * @self: a #NatterChatView
 */
void
natter_chat_view_focus_composer (NatterChatView *self)
{
  g_return_if_fail (NATTER_IS_CHAT_VIEW (self));

  gtk_widget_grab_focus (GTK_WIDGET (self->text_view));
}
