/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-message-row"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-format.h"
#include "natter-message-attachments.h"
#include "natter-message-meta.h"
#include "natter-message-row.h"

/* One message as a bubble: own messages on the end side, others on the
 * start side, the day above the first message of each day, and for own
 * messages the delivery state (pending, sent, read, failed with retry). The
 * chat view tells each row its context, since only the list knows the
 * neighbours and how far the peer has read. */

enum { PROP_0, PROP_ITEM, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterMessageRow {
  GtkWidget parent_instance;

  NatterMessageItem *item;
  gulong item_notify_handler; /* on @item: the row follows its changes */
  gulong attachments_handler; /* on @item's attachments, while the row has no view of them */
  gboolean show_day;
  gboolean grouped;
  gboolean outgoing; /* the bubble goes on the end side */
  gboolean read;
  char *highlight_words;
  gboolean current_match;
  guint n_highlights;

  /* Made when first shown (see ensure_day_label ()): NULL until then. */
  GtkLabel *day_label;
  GtkWidget *retry_button;
  NatterMessageAttachments *attachments_view;
  GtkWidget *call_box;
  GtkImage *call_icon;
  GtkLabel *call_label;
  GtkWidget *call_back_button;

  GtkWidget *bubble;
  GtkLabel *text_label;
  NatterMessageMeta *meta;
};

G_DEFINE_FINAL_TYPE (NatterMessageRow, natter_message_row, GTK_TYPE_WIDGET)

static void on_retry_clicked (NatterMessageRow *self);
static void on_call_back_clicked (NatterMessageRow *self);

/* GTK 4.8 restyles every row after one the list view inserts, each node of
 * it and each hidden node before a shown one (gtkcssnode.c), and the list
 * view inserts rows at the top as the list is scrolled up. A row therefore
 * makes its day label, Retry button, attachment column and call line only
 * when it first shows them: most rows never do, and each widget made costs
 * in every row the list makes (6 a frame while scrolling up). */
static void
ensure_day_label (NatterMessageRow *self)
{
  GtkWidget *label;

  if (self->day_label != NULL)
    return;

  label = gtk_label_new (NULL);
  gtk_widget_set_halign (label, GTK_ALIGN_CENTER);
  gtk_widget_set_margin_top (label, 12);
  gtk_widget_set_margin_bottom (label, 6);
  gtk_widget_add_css_class (label, "day-separator");
  gtk_widget_add_css_class (label, "caption-heading");
  gtk_widget_insert_after (label, GTK_WIDGET (self), NULL);
  self->day_label = GTK_LABEL (label);
}

static void
ensure_retry_button (NatterMessageRow *self)
{
  GtkWidget *button;

  if (self->retry_button != NULL)
    return;

  button = gtk_button_new_with_label (_ ("Retry"));
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "pill");
  gtk_widget_add_css_class (button, "small-pill");
  gtk_widget_add_css_class (button, "destructive-action");
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _ ("Retry Sending"), -1);
  g_signal_connect_swapped (button, "clicked", G_CALLBACK (on_retry_clicked), self);
  /* Before the bubble, so it is reached first as it is seen first. */
  gtk_widget_insert_before (button, GTK_WIDGET (self), self->bubble);
  self->retry_button = button;
}

/* A call of the conversation, in place of the bubble: its icon, what
 * happened, and Call Back for one that did not happen. */
static void
ensure_call_box (NatterMessageRow *self)
{
  GtkWidget *icon;
  GtkWidget *label;
  GtkWidget *button;

  if (self->call_box != NULL)
    return;

  self->call_box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  gtk_widget_set_halign (self->call_box, GTK_ALIGN_CENTER);
  gtk_widget_set_margin_top (self->call_box, 8);
  gtk_widget_add_css_class (self->call_box, "call-row");

  icon = g_object_new (GTK_TYPE_IMAGE, "accessible-role", GTK_ACCESSIBLE_ROLE_PRESENTATION, NULL);
  gtk_box_append (GTK_BOX (self->call_box), icon);
  self->call_icon = GTK_IMAGE (icon);

  label = gtk_label_new (NULL);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_box_append (GTK_BOX (self->call_box), label);
  self->call_label = GTK_LABEL (label);

  button = gtk_button_new_with_label (_ ("Call Back"));
  gtk_widget_set_visible (button, FALSE);
  gtk_widget_add_css_class (button, "pill");
  gtk_widget_add_css_class (button, "small-pill");
  gtk_widget_add_css_class (button, "suggested-action");
  g_signal_connect_swapped (button, "clicked", G_CALLBACK (on_call_back_clicked), self);
  gtk_box_append (GTK_BOX (self->call_box), button);
  self->call_back_button = button;

  /* Last, where the template had it: after the (hidden) bubble. */
  gtk_widget_insert_before (self->call_box, GTK_WIDGET (self), NULL);
}

/* The day above the row's message, or none (@day_of NULL). */
static void
update_day (NatterMessageRow *self, GDateTime *day_of)
{
  g_autoptr (GDateTime) now = NULL;
  g_autofree char *day = NULL;

  if (!self->show_day) {
    if (self->day_label != NULL)
      gtk_widget_set_visible (GTK_WIDGET (self->day_label), FALSE);
    return;
  }

  now = g_date_time_new_now_local ();
  day = natter_format_day (day_of ? day_of : now, now);
  ensure_day_label (self);
  gtk_label_set_label (self->day_label, day);
  gtk_widget_set_visible (GTK_WIDGET (self->day_label), TRUE);
}

static void update_row (NatterMessageRow *self);

/* The attachments, in a column above the text, made with the first
 * message that has any; until then the row waits for some to be added. */
static void
update_attachments (NatterMessageRow *self)
{
  GListModel *attachments = self->item ? natter_message_item_get_attachments (self->item) : NULL;

  if (self->attachments_view == NULL && attachments != NULL &&
      g_list_model_get_n_items (attachments) > 0) {
    self->attachments_view = NATTER_MESSAGE_ATTACHMENTS (natter_message_attachments_new ());
    gtk_box_prepend (GTK_BOX (self->bubble), GTK_WIDGET (self->attachments_view));
  }

  if (self->attachments_view != NULL) {
    natter_message_attachments_set_model (self->attachments_view, attachments);
  } else if (attachments != NULL && self->attachments_handler == 0) {
    /* No view yet: update_row () makes one when attachments come; once
     * made, the view follows the model itself. */
    self->attachments_handler = g_signal_connect_object (
      attachments, "items-changed", G_CALLBACK (update_row), self, G_CONNECT_SWAPPED);
  }
}

static void
disconnect_item (NatterMessageRow *self)
{
  if (self->item == NULL)
    return;
  g_clear_signal_handler (&self->item_notify_handler, self->item);
  g_clear_signal_handler (&self->attachments_handler,
                          natter_message_item_get_attachments (self->item));
}

/* Each state of an own message has a shape of its own (not only a
 * colour), so it reads in every style: a clock while in the outbox, one
 * tick once the server stored it, two once the peer read it, and an error
 * with a Retry button. Protocol 1.1 says nothing of delivery to the peer's
 * devices, so there is no "delivered" state between sent and read. */
static void
update_state (NatterMessageRow *self)
{
  NatterMessageState state = natter_message_item_get_state (self->item);
  gboolean outgoing = natter_message_item_get_outgoing (self->item);
  const char *icon = NULL;
  const char *description = NULL;

  if (outgoing) {
    switch (state) {
      case NATTER_MESSAGE_STATE_PENDING:
        icon = "natter-message-pending-symbolic";
        description = _ ("Sending");
        break;
      case NATTER_MESSAGE_STATE_FAILED:
        /* In the bubble's own colour: red on the accent colour does not
         * read; the Retry button beside the bubble carries the alarm. */
        icon = "dialog-error-symbolic";
        description = _ ("Not sent");
        break;
      case NATTER_MESSAGE_STATE_SENT:
      default:
        icon = self->read ? "natter-message-read-symbolic" : "natter-message-sent-symbolic";
        description = self->read ? _ ("Read") : _ ("Sent");
        break;
    }
  }

  /* Read is also set apart by strength, for those who do not see shapes
   * well at 12 px. */
  natter_message_meta_set_state (self->meta, icon, description,
                                 outgoing && state == NATTER_MESSAGE_STATE_SENT && self->read);

  if (outgoing && state == NATTER_MESSAGE_STATE_FAILED) {
    const char *reason = natter_message_item_get_error_message (self->item);
    g_autofree char *tooltip = reason ? g_strdup_printf (_ ("Not sent: %s. Try again."), reason)
                                      : g_strdup (_ ("Not sent. Try again."));

    ensure_retry_button (self);
    gtk_widget_set_tooltip_text (self->retry_button, tooltip);
    gtk_widget_set_visible (self->retry_button, TRUE);
  } else if (self->retry_button != NULL) {
    gtk_widget_set_visible (self->retry_button, FALSE);
  }
}

/* Marks where each of the search words occurs in the message text, case
 * folded, over the label's own text (the markup's links stay). The match
 * shown gets a stronger colour. Fixed colours: the yellow of a search
 * highlight, with black text, reads in every style. */
static void
update_highlight (NatterMessageRow *self)
{
  const char *text = gtk_label_get_text (self->text_label);
  g_autoptr (PangoAttrList) attributes = NULL;
  g_auto (GStrv) words = NULL;

  self->n_highlights = 0;
  if (self->highlight_words == NULL || text == NULL || *text == '\0') {
    /* GTK lays the label out anew for any attribute list given, even the
     * same empty one: binding a row must not pay that twice. */
    if (gtk_label_get_attributes (self->text_label) != NULL)
      gtk_label_set_attributes (self->text_label, NULL);
    return;
  }

  attributes = pango_attr_list_new ();
  words = g_strsplit_set (self->highlight_words, " \t\n", -1);
  for (guint w = 0; words[w] != NULL; w++) {
    g_autofree char *word = g_utf8_casefold (words[w], -1);
    glong word_chars = g_utf8_strlen (word, -1);

    if (word_chars == 0)
      continue;

    for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p)) {
      const char *end = p;
      g_autofree char *candidate = NULL;
      glong i;

      for (i = 0; i < word_chars && *end != '\0'; i++)
        end = g_utf8_next_char (end);
      if (i < word_chars)
        break;

      candidate = g_utf8_casefold (p, end - p);
      if (g_strcmp0 (candidate, word) == 0) {
        PangoAttribute *background = self->current_match
                                       ? pango_attr_background_new (0xffff, 0xa3a3, 0x4848)
                                       : pango_attr_background_new (0xf6f6, 0xd3d3, 0x2d2d);
        PangoAttribute *foreground = pango_attr_foreground_new (0, 0, 0);

        background->start_index = foreground->start_index = p - text;
        background->end_index = foreground->end_index = end - text;
        pango_attr_list_insert (attributes, background);
        pango_attr_list_insert (attributes, foreground);
        self->n_highlights++;
      }
    }
  }

  gtk_label_set_attributes (self->text_label, attributes);
}

static char *
format_duration (gint64 seconds)
{
  if (seconds < 60)
    /* Translators: how long a call lasted, under a minute */
    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d s", "%d s", seconds), (int) seconds);

  /* Translators: how long a call lasted, in minutes */
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d min", "%d min", (seconds + 30) / 60),
                          (int) ((seconds + 30) / 60));
}

/* What a call row says, from the side of whoever looks at it: "Missed
 * voice call · 14:02", "Video call · 12 min". Whole sentences for each
 * case, so translators can order them. */
static char *
describe_call (const NatterCallLog *call, gboolean outgoing, const char *time)
{
  gboolean video = g_strcmp0 (call->call_type, "video") == 0;
  const char *status = call->status != NULL ? call->status : "";

  if (g_str_equal (status, "answered")) {
    g_autofree char *duration = format_duration (call->duration_s);

    return g_strdup_printf (video ? _ ("Video call · %s") : _ ("Voice call · %s"), duration);
  }
  if (g_str_equal (status, "ringing"))
    return g_strdup_printf (
      outgoing ? (video ? _ ("Calling (video) · %s") : _ ("Calling · %s"))
               : (video ? _ ("Incoming video call · %s") : _ ("Incoming voice call · %s")),
      time);
  if (outgoing) {
    if (g_str_equal (status, "declined"))
      return g_strdup_printf (
        video ? _ ("Video call, declined · %s") : _ ("Voice call, declined · %s"), time);
    if (g_str_equal (status, "cancelled"))
      return g_strdup_printf (
        video ? _ ("Cancelled video call · %s") : _ ("Cancelled voice call · %s"), time);
    if (g_str_equal (status, "busy"))
      return g_strdup_printf (video ? _ ("Video call, busy · %s") : _ ("Voice call, busy · %s"),
                              time);
    if (g_str_equal (status, "failed"))
      return g_strdup_printf (video ? _ ("Video call, failed · %s") : _ ("Voice call, failed · %s"),
                              time);
    return g_strdup_printf (
      video ? _ ("Video call, no answer · %s") : _ ("Voice call, no answer · %s"), time);
  }

  if (g_str_equal (status, "declined"))
    return g_strdup_printf (video ? _ ("Declined video call · %s") : _ ("Declined voice call · %s"),
                            time);
  return g_strdup_printf (video ? _ ("Missed video call · %s") : _ ("Missed voice call · %s"),
                          time);
}

static void
update_call (NatterMessageRow *self, const NatterCallLog *call)
{
  gboolean outgoing = natter_message_item_get_outgoing (self->item);
  gboolean answered = g_strcmp0 (call->status, "answered") == 0;
  gboolean ringing = g_strcmp0 (call->status, "ringing") == 0;
  g_autoptr (GDateTime) started_at = natter_parse_local_time (call->started_at);
  g_autofree char *time = started_at ? natter_format_message_time (started_at) : g_strdup ("");
  g_autofree char *text = describe_call (call, outgoing, time);
  const char *icon;

  if (answered || ringing)
    icon = outgoing ? "call-outgoing-symbolic" : "call-incoming-symbolic";
  else if (outgoing)
    icon = "call-outgoing-symbolic";
  else
    icon = "call-missed-symbolic";

  gtk_image_set_from_icon_name (self->call_icon, icon);
  gtk_label_set_label (self->call_label, text);
  if (!answered && !ringing && !outgoing)
    gtk_widget_add_css_class (GTK_WIDGET (self->call_box), "missed");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->call_box), "missed");
  /* A call that did not happen can be returned from where it shows. */
  gtk_widget_set_visible (self->call_back_button, !answered && !ringing);
}

static void
update_row (NatterMessageRow *self)
{
  NatterMessageItem *item = self->item;
  g_autoptr (GDateTime) sent_at = NULL;
  g_autofree char *markup = NULL;
  g_autofree char *time_text = NULL;
  const char *text;
  gboolean outgoing;

  if (item == NULL)
    return;

  if (natter_message_item_get_call (item) != NULL)
    ensure_call_box (self);
  if (self->call_box != NULL)
    gtk_widget_set_visible (self->call_box, natter_message_item_get_call (item) != NULL);
  gtk_widget_set_visible (self->bubble, natter_message_item_get_call (item) == NULL);
  if (natter_message_item_get_call (item) != NULL) {
    g_autoptr (GDateTime) day_of = natter_parse_local_time (natter_message_item_get_sent_at (item));

    if (self->retry_button != NULL)
      gtk_widget_set_visible (self->retry_button, FALSE);
    update_call (self, natter_message_item_get_call (item));
    update_day (self, day_of);
    return;
  }

  if (self->attachments_handler != 0 &&
      g_list_model_get_n_items (natter_message_item_get_attachments (item)) > 0) {
    g_clear_signal_handler (&self->attachments_handler, natter_message_item_get_attachments (item));
    update_attachments (self);
  }

  outgoing = natter_message_item_get_outgoing (item);
  text = natter_message_item_get_text (item);
  markup = natter_text_to_markup (text ? text : "");
  gtk_label_set_markup (self->text_label, markup);
  gtk_widget_set_visible (GTK_WIDGET (self->text_label),
                          *markup != '\0' && !natter_message_attachments_text_is_names (
                                               natter_message_item_get_attachments (item), text));
  update_highlight (self);

  sent_at = natter_parse_local_time (natter_message_item_get_sent_at (item));
  if (sent_at != NULL)
    time_text = natter_format_message_time (sent_at);
  natter_message_meta_set_time (self->meta, time_text ? time_text : "");

  update_day (self, sent_at);

  /* The bubble hugs its side and leaves room on the other one (see
   * line_margins ()). */
  if (self->outgoing != outgoing) {
    self->outgoing = outgoing;
    gtk_widget_queue_resize (GTK_WIDGET (self));
  }
  if (outgoing) {
    gtk_widget_add_css_class (self->bubble, "outgoing");
    gtk_widget_remove_css_class (self->bubble, "incoming");
  } else {
    gtk_widget_add_css_class (self->bubble, "incoming");
    gtk_widget_remove_css_class (self->bubble, "outgoing");
  }
  if (self->grouped)
    gtk_widget_add_css_class (self->bubble, "grouped");
  else
    gtk_widget_remove_css_class (self->bubble, "grouped");

  update_state (self);
}

static void
on_retry_clicked (NatterMessageRow *self)
{
  const char *client_msg_id;

  if (self->item == NULL)
    return;

  client_msg_id = natter_message_item_get_client_msg_id (self->item);
  if (client_msg_id != NULL)
    gtk_widget_activate_action (GTK_WIDGET (self), "chat.retry-message", "s", client_msg_id);
}

static void
on_call_back_clicked (NatterMessageRow *self)
{
  const NatterCallLog *call = self->item ? natter_message_item_get_call (self->item) : NULL;

  if (call != NULL)
    gtk_widget_activate_action (GTK_WIDGET (self), "chat.start-call", "s",
                                g_strcmp0 (call->call_type, "video") == 0 ? "video" : "voice");
}

static void
natter_message_row_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (object);

  switch (prop_id) {
    case PROP_ITEM:
      g_value_set_object (value, self->item);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_message_row_set_property (GObject *object,
                                 guint prop_id,
                                 const GValue *value,
                                 GParamSpec *pspec)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (object);

  switch (prop_id) {
    case PROP_ITEM:
      natter_message_row_set_item (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

/* The bubble's line (the Retry button when shown, then the bubble) is
 * laid out by the row itself, not by a box of its own: GTK 4.8 restyles
 * every CSS node of the rows below one it inserts, and a box was one node
 * more per row. It never asks the bubble how wide it must be for a given
 * height: a wrapping label answers that with a binary search over Pango
 * layouts (GTK measures a height-for-width widget aligned to start or end
 * that way). Widths are asked without a height, heights for the width
 * given; the line gets its natural width, at most the row's, on the
 * sender's side. */
#define LINE_SPACING 6

/* The bubble hugs its sender's side, 12 px in, and leaves 60 px on the
 * other; start and end follow the text direction, as margins do. */
static void
line_margins (NatterMessageRow *self, int *start, int *end, int *top)
{
  *start = self->outgoing ? 60 : 12;
  *end = self->outgoing ? 12 : 60;
  *top = self->grouped ? 2 : 8;
}

/* The Retry button's natural width and the space after it, or 0. */
static int
retry_width (NatterMessageRow *self)
{
  int natural;

  if (self->retry_button == NULL || !gtk_widget_should_layout (self->retry_button))
    return 0;
  gtk_widget_measure (self->retry_button, GTK_ORIENTATION_HORIZONTAL, -1, NULL, &natural, NULL,
                      NULL);
  return natural + LINE_SPACING;
}

static void
measure_line_width (NatterMessageRow *self, int *minimum, int *natural)
{
  int start, end, top, bubble_minimum, bubble_natural;
  int fixed;

  line_margins (self, &start, &end, &top);
  fixed = start + end + retry_width (self);
  gtk_widget_measure (self->bubble, GTK_ORIENTATION_HORIZONTAL, -1, &bubble_minimum,
                      &bubble_natural, NULL, NULL);
  *minimum = fixed + bubble_minimum;
  *natural = fixed + bubble_natural;
}

/* The width of the line: its natural width, at most the row's. */
static int
line_width (NatterMessageRow *self, int row_width)
{
  int minimum, natural;

  measure_line_width (self, &minimum, &natural);
  return MAX (minimum, MIN (natural, row_width));
}

/* The bubble's width in a line @width wide (-1: not known). */
static int
bubble_width (NatterMessageRow *self, int width)
{
  int start, end, top;

  if (width < 0)
    return -1;
  line_margins (self, &start, &end, &top);
  return MAX (width - start - end - retry_width (self), 0);
}

static void
measure_line_height (NatterMessageRow *self, int width, int *minimum, int *natural)
{
  int start, end, top;

  line_margins (self, &start, &end, &top);
  gtk_widget_measure (self->bubble, GTK_ORIENTATION_VERTICAL, bubble_width (self, width), minimum,
                      natural, NULL, NULL);
  if (self->retry_button != NULL && gtk_widget_should_layout (self->retry_button)) {
    int retry_minimum, retry_natural;

    gtk_widget_measure (self->retry_button, GTK_ORIENTATION_VERTICAL, -1, &retry_minimum,
                        &retry_natural, NULL, NULL);
    *minimum = MAX (*minimum, retry_minimum);
    *natural = MAX (*natural, retry_natural);
  }
  *minimum += top;
  *natural += top;
}

static void
allocate_line (NatterMessageRow *self, int row_width, int y)
{
  gboolean rtl = gtk_widget_get_direction (GTK_WIDGET (self)) == GTK_TEXT_DIR_RTL;
  int width = line_width (self, row_width);
  int retry = retry_width (self);
  int start, end, top, minimum, height, x;
  GtkAllocation bubble;

  line_margins (self, &start, &end, &top);
  measure_line_height (self, width, &minimum, &height);
  x = (self->outgoing != rtl ? row_width - width : 0) + (rtl ? end : start);
  bubble.width = bubble_width (self, width);
  bubble.height = height - top;
  bubble.x = rtl ? x : x + retry;
  bubble.y = y + top;
  gtk_widget_size_allocate (self->bubble, &bubble, -1);

  /* The button is centred on the bubble (its valign). */
  if (retry > 0) {
    GtkAllocation button = { rtl ? x + bubble.width + LINE_SPACING : x, y + top,
                             retry - LINE_SPACING, height - top };

    gtk_widget_size_allocate (self->retry_button, &button, -1);
  }
}

static GtkSizeRequestMode
natter_message_row_get_request_mode (GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

/* The day, the bubble's line and the call row, one above the other. */
static void
natter_message_row_measure (GtkWidget *widget,
                            GtkOrientation orientation,
                            int for_size,
                            int *minimum,
                            int *natural,
                            int *minimum_baseline,
                            int *natural_baseline)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (widget);

  *minimum = *natural = 0;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    int child_minimum, child_natural;

    if (!gtk_widget_should_layout (child) || child == self->retry_button)
      continue;

    if (orientation == GTK_ORIENTATION_HORIZONTAL) {
      if (child == self->bubble)
        measure_line_width (self, &child_minimum, &child_natural);
      else
        gtk_widget_measure (child, orientation, -1, &child_minimum, &child_natural, NULL, NULL);
      *minimum = MAX (*minimum, child_minimum);
      *natural = MAX (*natural, child_natural);
    } else {
      if (child == self->bubble)
        measure_line_height (self, for_size >= 0 ? line_width (self, for_size) : -1, &child_minimum,
                             &child_natural);
      else
        gtk_widget_measure (child, orientation, for_size, &child_minimum, &child_natural, NULL,
                            NULL);
      *minimum += child_minimum;
      *natural += child_natural;
    }
  }
}

static void
natter_message_row_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (widget);
  int y = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    GtkAllocation allocation = { 0, y, width, 0 };

    if (!gtk_widget_should_layout (child) || child == self->retry_button)
      continue;

    if (child == self->bubble) {
      int minimum;

      measure_line_height (self, line_width (self, width), &minimum, &allocation.height);
      allocate_line (self, width, y);
    } else {
      gtk_widget_measure (child, GTK_ORIENTATION_VERTICAL, width, NULL, &allocation.height, NULL,
                          NULL);
      gtk_widget_size_allocate (child, &allocation, -1);
    }
    y += allocation.height;
  }
}

static void
natter_message_row_dispose (GObject *object)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (object);

  natter_message_row_set_item (self, NULL);
  g_clear_pointer (&self->highlight_words, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_MESSAGE_ROW);
  /* The template's top-level children are not bound, and the row's own
   * (day, Retry, call line) are not the template's: unparent them too. */
  {
    GtkWidget *child;

    while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
      gtk_widget_unparent (child);
  }
  self->day_label = NULL;
  self->retry_button = NULL;
  self->attachments_view = NULL;
  self->call_box = NULL;
  self->call_icon = NULL;
  self->call_label = NULL;
  self->call_back_button = NULL;

  G_OBJECT_CLASS (natter_message_row_parent_class)->dispose (object);
}

static void
natter_message_row_class_init (NatterMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_message_row_get_property;
  object_class->set_property = natter_message_row_set_property;
  object_class->dispose = natter_message_row_dispose;
  widget_class->get_request_mode = natter_message_row_get_request_mode;
  widget_class->measure = natter_message_row_measure;
  widget_class->size_allocate = natter_message_row_size_allocate;

  properties[PROP_ITEM] =
    g_param_spec_object ("item", NULL, NULL, NATTER_TYPE_MESSAGE_ITEM,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/natter/Natter/natter-message-row.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, bubble);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, text_label);
  g_type_ensure (NATTER_TYPE_MESSAGE_META);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, meta);

  gtk_widget_class_set_css_name (widget_class, "natter-message-row");
}

static void
natter_message_row_init (NatterMessageRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * natter_message_row_new:
 *
 * Returns: (transfer floating): a new, empty row
 */
GtkWidget *
natter_message_row_new (void)
{
  return g_object_new (NATTER_TYPE_MESSAGE_ROW, NULL);
}

/**
 * natter_message_row_get_item:
 * @self: a #NatterMessageRow
 *
 * Returns: (transfer none) (nullable): the message shown
 */
NatterMessageItem *
natter_message_row_get_item (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);

  return self->item;
}

/**
 * natter_message_row_set_item:
 * @self: a #NatterMessageRow
 * @item: (nullable): the message to show; the row follows its changes
 */
void
natter_message_row_set_item (NatterMessageRow *self, NatterMessageItem *item)
{
  g_return_if_fail (NATTER_IS_MESSAGE_ROW (self));
  g_return_if_fail (item == NULL || NATTER_IS_MESSAGE_ITEM (item));

  if (self->item == item)
    return;

  disconnect_item (self);
  g_set_object (&self->item, item);
  if (item != NULL)
    self->item_notify_handler =
      g_signal_connect_swapped (item, "notify", G_CALLBACK (update_row), self);
  update_attachments (self);
  update_row (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ITEM]);
}

/**
 * natter_message_row_set_context:
 * @self: a #NatterMessageRow
 * @show_day: whether this is the first message of its day
 * @grouped: whether the message above is from the same sender shortly before
 * @read: whether the peer has read this (own) message
 */
void
natter_message_row_set_context (NatterMessageRow *self,
                                gboolean show_day,
                                gboolean grouped,
                                gboolean read)
{
  g_return_if_fail (NATTER_IS_MESSAGE_ROW (self));

  show_day = !!show_day;
  grouped = !!grouped;
  read = !!read;
  if (self->show_day == show_day && self->grouped == grouped && self->read == read)
    return;

  /* The space above the bubble follows grouping (line_margins ()). */
  if (self->grouped != grouped)
    gtk_widget_queue_resize (GTK_WIDGET (self));
  self->show_day = show_day;
  self->grouped = grouped;
  self->read = read;
  update_row (self);
}

/**
 * natter_message_row_set_highlight:
 * @self: a #NatterMessageRow
 * @words: (nullable): the search words to mark in the text
 * @current: whether this message is the match being shown
 */
void
natter_message_row_set_highlight (NatterMessageRow *self, const char *words, gboolean current)
{
  g_return_if_fail (NATTER_IS_MESSAGE_ROW (self));

  current = !!current;
  if (g_strcmp0 (self->highlight_words, words) == 0 && self->current_match == current)
    return;

  g_free (self->highlight_words);
  self->highlight_words = g_strdup (words);
  self->current_match = current;
  if (current)
    gtk_widget_add_css_class (self->bubble, "current-match");
  else
    gtk_widget_remove_css_class (self->bubble, "current-match");
  update_highlight (self);
}

/**
 * natter_message_row_get_n_highlights:
 * @self: a #NatterMessageRow
 *
 * Returns: how many places of the text are marked as search matches
 */
guint
natter_message_row_get_n_highlights (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), 0);

  return self->n_highlights;
}

gboolean
natter_message_row_get_show_day (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), FALSE);

  return self->show_day;
}

gboolean
natter_message_row_get_grouped (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), FALSE);

  return self->grouped;
}
