/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-conversation-row"

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "natter-format.h"
#include "natter-conversation-row.h"

/* One conversation in the sidebar: who, presence, the last message or
 * "typing…", when, and how many are unread. */

enum { PROP_0, PROP_ITEM, PROP_PRESENCE_KNOWN, PROP_MUTED, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterConversationRow {
  GtkWidget parent_instance;

  NatterConversationItem *item;
  /* Follow whichever item the row shows: the groups move their handler and
   * bindings when the item changes. */
  GSignalGroup *item_signals;
  GBindingGroup *item_bindings;
  gboolean presence_known;
  gboolean muted;

  AdwAvatar *avatar;
  GtkWidget *muted_icon;
  GtkWidget *presence_dot;
  GtkLabel *title_label;
  GtkLabel *time_label;
  GtkLabel *subtitle_label;
  GtkLabel *unread_label;
};

G_DEFINE_FINAL_TYPE (NatterConversationRow, natter_conversation_row, GTK_TYPE_WIDGET)

static void
update_row (NatterConversationRow *self)
{
  NatterConversationItem *item = self->item;
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autoptr (GDateTime) updated_at = NULL;
  g_autofree char *time_text = NULL;
  g_autofree char *unread_text = NULL;
  g_autofree char *accessible = NULL;
  g_autofree char *last_text = NULL;
  const char *title;
  guint unread;
  gboolean online;
  gboolean typing;

  if (item == NULL)
    return;

  title = natter_conversation_item_get_title (item);
  last_text = natter_format_one_line (natter_conversation_item_get_last_message_text (item));
  unread = natter_conversation_item_get_unread_count (item);
  online = natter_conversation_item_get_peer_online (item);
  typing = natter_conversation_item_get_typing (item);

  updated_at = natter_parse_local_time (natter_conversation_item_get_updated_at (item));
  if (updated_at != NULL)
    time_text = natter_format_list_time (updated_at, now);

  gtk_label_set_label (self->time_label, time_text ? time_text : "");

  if (typing) {
    gtk_label_set_label (self->subtitle_label, _ ("typing…"));
    gtk_widget_add_css_class (GTK_WIDGET (self->subtitle_label), "accent");
    gtk_widget_remove_css_class (GTK_WIDGET (self->subtitle_label), "dim-label");
  } else {
    gtk_label_set_label (self->subtitle_label, last_text ? last_text : _ ("No messages yet"));
    gtk_widget_remove_css_class (GTK_WIDGET (self->subtitle_label), "accent");
    gtk_widget_add_css_class (GTK_WIDGET (self->subtitle_label), "dim-label");
  }

  gtk_widget_set_visible (self->presence_dot, online && self->presence_known);
  gtk_widget_set_visible (GTK_WIDGET (self->unread_label), unread > 0);
  if (unread > 0) {
    unread_text = unread > 99 ? g_strdup ("99+") : g_strdup_printf ("%u", unread);
    gtk_label_set_label (self->unread_label, unread_text);
  }
  if (unread > 0)
    gtk_widget_add_css_class (GTK_WIDGET (self->time_label), "accent");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->time_label), "accent");

  if (self->presence_known)
    accessible =
      g_strdup_printf (ngettext ("%s, %s, %u unread message", "%s, %s, %u unread messages", unread),
                       title, online ? _ ("online") : _ ("offline"), unread);
  else
    /* Translators: conversation name and unread count, when the app is
     * offline and does not know who is online. */
    accessible = g_strdup_printf (
      ngettext ("%s, %u unread message", "%s, %u unread messages", unread), title, unread);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible,
                                  -1);
}

static void
natter_conversation_row_get_property (GObject *object,
                                      guint prop_id,
                                      GValue *value,
                                      GParamSpec *pspec)
{
  NatterConversationRow *self = NATTER_CONVERSATION_ROW (object);

  switch (prop_id) {
    case PROP_ITEM:
      g_value_set_object (value, self->item);
      break;
    case PROP_PRESENCE_KNOWN:
      g_value_set_boolean (value, self->presence_known);
      break;
    case PROP_MUTED:
      g_value_set_boolean (value, self->muted);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_conversation_row_set_property (GObject *object,
                                      guint prop_id,
                                      const GValue *value,
                                      GParamSpec *pspec)
{
  NatterConversationRow *self = NATTER_CONVERSATION_ROW (object);

  switch (prop_id) {
    case PROP_ITEM:
      natter_conversation_row_set_item (self, g_value_get_object (value));
      break;
    case PROP_PRESENCE_KNOWN:
      natter_conversation_row_set_presence_known (self, g_value_get_boolean (value));
      break;
    case PROP_MUTED:
      natter_conversation_row_set_muted (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_conversation_row_dispose (GObject *object)
{
  NatterConversationRow *self = NATTER_CONVERSATION_ROW (object);

  natter_conversation_row_set_item (self, NULL);
  g_clear_object (&self->item_signals);
  g_clear_object (&self->item_bindings);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_CONVERSATION_ROW);
  /* The template's top-level children are not bound, so unparent them too. */
  {
    GtkWidget *child;

    while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
      gtk_widget_unparent (child);
  }

  G_OBJECT_CLASS (natter_conversation_row_parent_class)->dispose (object);
}

static void
natter_conversation_row_class_init (NatterConversationRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_conversation_row_get_property;
  object_class->set_property = natter_conversation_row_set_property;
  object_class->dispose = natter_conversation_row_dispose;

  properties[PROP_ITEM] =
    g_param_spec_object ("item", NULL, NULL, NATTER_TYPE_CONVERSATION_ITEM,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterConversationRow:presence-known:
   *
   * Whether the peer's presence is current; offline it is stale, and the
   * row neither shows the dot nor says "online".
   */
  properties[PROP_PRESENCE_KNOWN] =
    g_param_spec_boolean ("presence-known", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterConversationRow:muted:
   *
   * Whether the conversation's messages do not notify (shown as an icon).
   */
  properties[PROP_MUTED] =
    g_param_spec_boolean ("muted", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/natter/Natter/natter-conversation-row.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterConversationRow, avatar);
  gtk_widget_class_bind_template_child (widget_class, NatterConversationRow, presence_dot);
  gtk_widget_class_bind_template_child (widget_class, NatterConversationRow, muted_icon);
  gtk_widget_class_bind_template_child (widget_class, NatterConversationRow, title_label);
  gtk_widget_class_bind_template_child (widget_class, NatterConversationRow, time_label);
  gtk_widget_class_bind_template_child (widget_class, NatterConversationRow, subtitle_label);
  gtk_widget_class_bind_template_child (widget_class, NatterConversationRow, unread_label);

  gtk_widget_class_set_css_name (widget_class, "natter-conversation-row");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
natter_conversation_row_init (NatterConversationRow *self)
{
  self->presence_known = TRUE;
  gtk_widget_init_template (GTK_WIDGET (self));

  self->item_signals = g_signal_group_new (NATTER_TYPE_CONVERSATION_ITEM);
  g_signal_group_connect_swapped (self->item_signals, "notify", G_CALLBACK (update_row), self);
  self->item_bindings = g_binding_group_new ();
  g_binding_group_bind (self->item_bindings, "title", self->title_label, "label",
                        G_BINDING_SYNC_CREATE);
  g_binding_group_bind (self->item_bindings, "title", self->avatar, "text", G_BINDING_SYNC_CREATE);
}

/**
 * natter_conversation_row_new:
 *
 * Returns: (transfer floating): a new, empty row
 */
GtkWidget *
natter_conversation_row_new (void)
{
  return g_object_new (NATTER_TYPE_CONVERSATION_ROW, NULL);
}

/**
 * natter_conversation_row_get_item:
 * @self: a #NatterConversationRow
 *
 * Returns: (transfer none) (nullable): the conversation shown
 */
NatterConversationItem *
natter_conversation_row_get_item (NatterConversationRow *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ROW (self), NULL);

  return self->item;
}

/**
 * natter_conversation_row_set_item:
 * @self: a #NatterConversationRow
 * @item: (nullable): the conversation to show; the row follows its changes
 */
void
natter_conversation_row_set_item (NatterConversationRow *self, NatterConversationItem *item)
{
  g_return_if_fail (NATTER_IS_CONVERSATION_ROW (self));
  g_return_if_fail (item == NULL || NATTER_IS_CONVERSATION_ITEM (item));

  if (!g_set_object (&self->item, item))
    return;

  g_signal_group_set_target (self->item_signals, item);
  g_binding_group_set_source (self->item_bindings, item);
  update_row (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ITEM]);
}

/**
 * natter_conversation_row_get_presence_known:
 * @self: a #NatterConversationRow
 *
 * Returns: whether the row shows the peer's presence
 */
gboolean
natter_conversation_row_get_presence_known (NatterConversationRow *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ROW (self), FALSE);

  return self->presence_known;
}

/**
 * natter_conversation_row_set_presence_known:
 * @self: a #NatterConversationRow
 * @presence_known: whether the peer's presence is current (the app is online)
 */
void
natter_conversation_row_set_presence_known (NatterConversationRow *self, gboolean presence_known)
{
  g_return_if_fail (NATTER_IS_CONVERSATION_ROW (self));

  presence_known = !!presence_known;
  if (self->presence_known == presence_known)
    return;

  self->presence_known = presence_known;
  update_row (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PRESENCE_KNOWN]);
}

/**
 * natter_conversation_row_get_muted:
 * @self: a #NatterConversationRow
 *
 * Returns: whether the row shows the conversation as muted
 */
gboolean
natter_conversation_row_get_muted (NatterConversationRow *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ROW (self), FALSE);

  return self->muted;
}

/**
 * natter_conversation_row_set_muted:
 * @self: a #NatterConversationRow
 * @muted: whether the conversation's messages do not notify
 */
void
natter_conversation_row_set_muted (NatterConversationRow *self, gboolean muted)
{
  g_return_if_fail (NATTER_IS_CONVERSATION_ROW (self));

  muted = !!muted;
  if (self->muted == muted)
    return;

  self->muted = muted;
  gtk_widget_set_visible (self->muted_icon, muted);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MUTED]);
}
