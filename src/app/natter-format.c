/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-format"

/* How the app writes times, durations, profile types and message text. */

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "natter-format.h"

/**
 * natter_parse_local_time:
 * @rfc3339: (nullable): a time as the server writes it
 *
 * Returns: (transfer full) (nullable): the time in the local time zone, or
 *   %NULL if @rfc3339 does not parse
 */
/* GLib reads the local zone anew for every g_date_time_to_local () (a
 * stat of /etc/localtime and a parse of it): a tenth of the work of
 * binding a message row while the list scrolls. One zone is kept and
 * looked up again after a few seconds, so a change of zone still shows
 * soon. Main thread only, like the rest of the app's formatting. */
#define LOCAL_ZONE_REFRESH_US (5 * G_USEC_PER_SEC)

static GTimeZone *
local_zone (void)
{
  static GTimeZone *zone;
  static gint64 looked_up_at;
  gint64 now = g_get_monotonic_time ();

  if (zone == NULL || now - looked_up_at > LOCAL_ZONE_REFRESH_US) {
    g_clear_pointer (&zone, g_time_zone_unref);
    zone = g_time_zone_new_local ();
    looked_up_at = now;
  }

  return zone;
}

GDateTime *
natter_parse_local_time (const char *rfc3339)
{
  g_autoptr (GDateTime) utc = NULL;

  if (rfc3339 == NULL || *rfc3339 == '\0')
    return NULL;

  utc = g_date_time_new_from_iso8601 (rfc3339, NULL);
  if (utc == NULL)
    return NULL;

  return g_date_time_to_timezone (utc, local_zone ());
}

/**
 * natter_format_message_time:
 * @time: a local time
 *
 * Returns: (transfer full): the clock time, as the locale writes it
 */
char *
natter_format_message_time (GDateTime *time)
{
  g_return_val_if_fail (time != NULL, NULL);

  /* Translators: time of a message, see the GDateTime format docs */
  return g_date_time_format (time, C_ ("message time", "%H:%M"));
}

static int
days_between (GDateTime *earlier, GDateTime *later)
{
  g_autoptr (GDate) a =
    g_date_new_dmy (g_date_time_get_day_of_month (earlier), g_date_time_get_month (earlier),
                    g_date_time_get_year (earlier));
  g_autoptr (GDate) b =
    g_date_new_dmy (g_date_time_get_day_of_month (later), g_date_time_get_month (later),
                    g_date_time_get_year (later));

  return g_date_days_between (a, b);
}

/**
 * natter_format_list_time:
 * @time: a local time
 * @now: the local time now
 *
 * Returns: (transfer full): the clock time for today, a weekday within the
 *   week, a date before that
 */
char *
natter_format_list_time (GDateTime *time, GDateTime *now)
{
  int days;

  g_return_val_if_fail (time != NULL && now != NULL, NULL);

  days = days_between (time, now);
  if (days <= 0)
    return natter_format_message_time (time);
  if (days == 1)
    return g_strdup (_ ("Yesterday"));
  if (days < 7)
    return g_date_time_format (time, "%a");

  /* Translators: a short date in the conversation list */
  return g_date_time_format (time, C_ ("list date", "%d/%m/%y"));
}

/**
 * natter_format_day:
 * @time: a local time
 * @now: the local time now
 *
 * Returns: (transfer full): the heading of a day in the message list
 */
char *
natter_format_day (GDateTime *time, GDateTime *now)
{
  int days;

  g_return_val_if_fail (time != NULL && now != NULL, NULL);

  days = days_between (time, now);
  if (days <= 0)
    return g_strdup (_ ("Today"));
  if (days == 1)
    return g_strdup (_ ("Yesterday"));
  if (g_date_time_get_year (time) == g_date_time_get_year (now))
    /* Translators: a day heading in the message list, this year */
    return g_date_time_format (time, C_ ("day heading", "%A, %e %B"));

  /* Translators: a day heading in the message list, an earlier year */
  return g_date_time_format (time, C_ ("day heading", "%e %B %Y"));
}

/**
 * natter_format_last_seen:
 * @rfc3339: (nullable): when the profile was last online
 * @now: the local time now
 *
 * Returns: (transfer full) (nullable): "last seen …", or %NULL without a
 *   time (the peer's presence was never shared with us)
 */
char *
natter_format_last_seen (const char *rfc3339, GDateTime *now)
{
  g_autoptr (GDateTime) time = natter_parse_local_time (rfc3339);
  g_autofree char *clock = NULL;
  int days;

  /* Presence is shared only once both took part in a conversation
   * (PROTOCOL.md 1.1): nothing known is not the same as offline. */
  if (time == NULL)
    return NULL;

  clock = natter_format_message_time (time);
  days = days_between (time, now);
  if (days <= 0)
    return g_strdup_printf (_ ("Last seen today at %s"), clock);
  if (days == 1)
    return g_strdup_printf (_ ("Last seen yesterday at %s"), clock);

  {
    /* Translators: a date in "Last seen %s" */
    g_autofree char *date = g_date_time_format (time, C_ ("last seen date", "%e %B"));

    return g_strdup_printf (_ ("Last seen %s"), g_strstrip (date));
  }
}

/**
 * natter_format_duration:
 * @seconds: a call's length
 *
 * Returns: (transfer full): "m:ss", or "h:mm:ss" from an hour on
 */
char *
natter_format_duration (gint64 seconds)
{
  if (seconds < 0)
    seconds = 0;

  if (seconds >= 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT ":%02d:%02d", seconds / 3600,
                            (int) (seconds / 60 % 60), (int) (seconds % 60));

  return g_strdup_printf ("%d:%02d", (int) (seconds / 60), (int) (seconds % 60));
}

/**
 * natter_format_one_line:
 * @text: (nullable): a message's text, perhaps over several lines
 *
 * For a one-line preview (the sidebar): a single-line GtkLabel would show
 * each line break as a glyph, so every run of white space, line breaks
 * included, becomes one space, and none is left at either end.
 *
 * Returns: (transfer full) (nullable): @text on one line
 */
char *
natter_format_one_line (const char *text)
{
  GString *line;
  gboolean space = FALSE;

  if (text == NULL)
    return NULL;

  line = g_string_sized_new (strlen (text));
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (g_unichar_isspace (c)) {
      space = line->len > 0;
      continue;
    }
    if (space)
      g_string_append_c (line, ' ');
    space = FALSE;
    g_string_append_unichar (line, c);
  }

  return g_string_free (line, FALSE);
}

static gboolean
is_link_start (const char *p)
{
  return g_str_has_prefix (p, "https://") || g_str_has_prefix (p, "http://") ||
         g_str_has_prefix (p, "www.");
}

/* Text between links, escaped in one piece: a message is bound each time
 * its row is made, and escaping it a character at a time was a fifth of
 * that (an allocation each). */
static void
append_escaped (GString *markup, const char *start, const char *end)
{
  g_autofree char *escaped = NULL;

  if (end <= start)
    return;
  escaped = g_markup_escape_text (start, end - start);
  g_string_append (markup, escaped);
}

/**
 * natter_text_to_markup:
 * @text: a message's text, as anyone may have written it
 *
 * Escapes @text for Pango markup and turns web addresses into links.
 *
 * Returns: (transfer full): Pango markup
 */
char *
natter_text_to_markup (const char *text)
{
  GString *markup;
  const char *p;
  const char *plain; /* the text since the last link, not appended yet */

  g_return_val_if_fail (text != NULL, NULL);

  markup = g_string_sized_new (strlen (text) + 16);
  p = plain = text;

  while (*p != '\0') {
    const char *start = p;

    if ((p == text || g_ascii_isspace (p[-1]) || p[-1] == '(') && is_link_start (p)) {
      g_autofree char *link = NULL;
      g_autofree char *escaped = NULL;
      g_autofree char *href = NULL;
      gsize length;

      append_escaped (markup, plain, start);
      while (*p != '\0' && !g_ascii_isspace (*p) && *p != '<' && *p != '>' && *p != '"')
        p++;
      /* Punctuation that ends a sentence is not part of the address. */
      while (p > start && strchr (".,;:!?)'", p[-1]) != NULL)
        p--;

      length = (gsize) (p - start);
      link = g_strndup (start, length);
      escaped = g_markup_escape_text (link, -1);
      href = g_str_has_prefix (link, "www.") ? g_strconcat ("https://", escaped, NULL)
                                             : g_strdup (escaped);
      g_string_append_printf (markup, "<a href=\"%s\">%s</a>", href, escaped);
      plain = p;
      continue;
    }

    p = g_utf8_next_char (p);
  }
  append_escaped (markup, plain, p);

  return g_string_free (markup, FALSE);
}

/**
 * natter_profile_type_label:
 * @profile_type: a profile type from the server ("student", "tutor", …)
 *
 * Returns: the type as the user reads it: translated for the types Natter
 *   knows, @profile_type itself for others
 */
const char *
natter_profile_type_label (const char *profile_type)
{
  g_return_val_if_fail (profile_type != NULL, NULL);

  if (g_str_equal (profile_type, "student"))
    return C_ ("profile type", "Student");
  if (g_str_equal (profile_type, "tutor"))
    return C_ ("profile type", "Tutor");
  if (g_str_equal (profile_type, "parent"))
    return C_ ("profile type", "Parent");
  if (g_str_equal (profile_type, "advertiser"))
    return C_ ("profile type", "Advertiser");

  return profile_type;
}
