/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bubble-line-layout"

#include "config.h"

#include "natter-bubble-line-layout.h"

/* Lays out a message's line: its children side by side (the Retry button,
 * then the bubble), the last one taking the width left. Unlike a
 * horizontal GtkBox it never asks a child how wide it must be for a given
 * height: a wrapping label answers that with a binary search over Pango
 * layouts, each shaping the text again, some fifty layouts a row, which
 * was most of the work of opening a conversation and of each frame while
 * scrolling. Widths are asked for without a height and heights for the
 * width given; the row gives the line its natural width, at most its own. */

#define SPACING 6

struct _NatterBubbleLineLayout {
  GtkLayoutManager parent_instance;
};

G_DEFINE_FINAL_TYPE (NatterBubbleLineLayout, natter_bubble_line_layout, GTK_TYPE_LAYOUT_MANAGER)

static GtkSizeRequestMode
natter_bubble_line_layout_get_request_mode (GtkLayoutManager *layout_manager, GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

/* The natural width of each child but the last, which gets the rest. */
static int
leading_width (GtkWidget *widget, GtkWidget *last, guint *n_leading)
{
  int width = 0;

  *n_leading = 0;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != last;
       child = gtk_widget_get_next_sibling (child)) {
    int natural;

    if (!gtk_widget_should_layout (child))
      continue;
    gtk_widget_measure (child, GTK_ORIENTATION_HORIZONTAL, -1, NULL, &natural, NULL, NULL);
    width += natural + SPACING;
    (*n_leading)++;
  }

  return width;
}

static GtkWidget *
last_laid_out_child (GtkWidget *widget)
{
  GtkWidget *child = gtk_widget_get_last_child (widget);

  while (child != NULL && !gtk_widget_should_layout (child))
    child = gtk_widget_get_prev_sibling (child);

  return child;
}

static void
natter_bubble_line_layout_measure (GtkLayoutManager *layout_manager,
                                   GtkWidget *widget,
                                   GtkOrientation orientation,
                                   int for_size,
                                   int *minimum,
                                   int *natural,
                                   int *minimum_baseline,
                                   int *natural_baseline)
{
  GtkWidget *last = last_laid_out_child (widget);
  guint n_leading;
  int leading = leading_width (widget, last, &n_leading);

  *minimum = *natural = 0;
  if (orientation == GTK_ORIENTATION_HORIZONTAL) {
    /* The leading children keep their natural width. */
    *minimum = *natural = leading;
    if (last != NULL) {
      int last_minimum, last_natural;

      gtk_widget_measure (last, orientation, -1, &last_minimum, &last_natural, NULL, NULL);
      *minimum += last_minimum;
      *natural += last_natural;
    } else if (n_leading > 0) {
      *minimum -= SPACING;
      *natural -= SPACING;
    }
    return;
  }

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    int child_width = -1;
    int child_minimum, child_natural;

    if (!gtk_widget_should_layout (child))
      continue;
    if (child == last && for_size >= 0)
      child_width = MAX (for_size - leading, 0);
    gtk_widget_measure (child, orientation, child_width, &child_minimum, &child_natural, NULL,
                        NULL);
    *minimum = MAX (*minimum, child_minimum);
    *natural = MAX (*natural, child_natural);
  }
}

static void
natter_bubble_line_layout_allocate (
  GtkLayoutManager *layout_manager, GtkWidget *widget, int width, int height, int baseline)
{
  gboolean rtl = gtk_widget_get_direction (widget) == GTK_TEXT_DIR_RTL;
  GtkWidget *last = last_laid_out_child (widget);
  int x = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    GtkAllocation allocation = { 0, 0, 0, height };

    if (!gtk_widget_should_layout (child))
      continue;
    if (child == last)
      allocation.width = MAX (width - x, 0);
    else
      gtk_widget_measure (child, GTK_ORIENTATION_HORIZONTAL, -1, NULL, &allocation.width, NULL,
                          NULL);
    allocation.x = rtl ? width - x - allocation.width : x;
    gtk_widget_size_allocate (child, &allocation, -1);
    x += allocation.width + SPACING;
  }
}

static void
natter_bubble_line_layout_class_init (NatterBubbleLineLayoutClass *klass)
{
  GtkLayoutManagerClass *layout_class = GTK_LAYOUT_MANAGER_CLASS (klass);

  layout_class->get_request_mode = natter_bubble_line_layout_get_request_mode;
  layout_class->measure = natter_bubble_line_layout_measure;
  layout_class->allocate = natter_bubble_line_layout_allocate;
}

static void
natter_bubble_line_layout_init (NatterBubbleLineLayout *self)
{
}

/**
 * natter_bubble_line_layout_new:
 *
 * Returns: (transfer full): a layout for a message's line of widgets
 */
GtkLayoutManager *
natter_bubble_line_layout_new (void)
{
  return g_object_new (NATTER_TYPE_BUBBLE_LINE_LAYOUT, NULL);
}
