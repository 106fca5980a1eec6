/* SPDX-License-Identifier: GPL-3.0-or-later */
/* How the app writes message text and durations: no display needed. */

#include "config.h"

#include "natter-format.h"

static void
test_one_line (void)
{
  static const struct {
    const char *text;
    const char *line;
  } cases[] = {
    { "Hello", "Hello" },
    { "Message 120.\nWith\nseveral\nshort lines.", "Message 120. With several short lines." },
    { "  two\r\n\r\n  paragraphs \t", "two paragraphs" },
    { "line\u2028separator and\u00a0no-break space", "line separator and no-break space" },
    { "ሰላም\n👋", "ሰላም 👋" },
    { "\n \n", "" },
    { "", "" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *line = natter_format_one_line (cases[i].text);

    g_assert_cmpstr (line, ==, cases[i].line);
  }
  g_assert_null (natter_format_one_line (NULL));
}

static void
test_duration (void)
{
  static const struct {
    gint64 seconds;
    const char *text;
  } cases[] = {
    { -5, "0:00" },    { 0, "0:00" },       { 59, "0:59" },        { 60, "1:00" },
    { 3599, "59:59" }, { 3600, "1:00:00" }, { 36061, "10:01:01" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *text = natter_format_duration (cases[i].seconds);

    g_assert_cmpstr (text, ==, cases[i].text);
  }
}

/* Message text as the rows' labels read it: escaped for Pango markup,
 * web addresses made links. */
static void
test_text_to_markup (void)
{
  static const struct {
    const char *text;
    const char *markup;
  } cases[] = {
    { "Hello <b>&\"'", "Hello &lt;b&gt;&amp;&quot;&apos;" },
    { "see https://example.org/a?b=1&c=2.",
      "see <a href=\"https://example.org/a?b=1&amp;c=2\">https://example.org/a?b=1&amp;c=2</a>." },
    { "(www.natter.example)", "(<a href=\"https://www.natter.example\">www.natter.example</a>)" },
    { "ሰላም http://x.y 👋 <3", "ሰላም <a href=\"http://x.y\">http://x.y</a> 👋 &lt;3" },
    { "http://a.b,http://c.d", "<a href=\"http://a.b,http://c.d\">http://a.b,http://c.d</a>" },
    { "nohttp://x www.a.b.", "nohttp://x <a href=\"https://www.a.b\">www.a.b</a>." },
    { "a\001b\nc", "a&#x1;b\nc" },
    { "", "" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *markup = natter_text_to_markup (cases[i].text);

    g_assert_cmpstr (markup, ==, cases[i].markup);
  }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/app/format/one-line", test_one_line);
  g_test_add_func ("/natter/app/format/duration", test_duration);
  g_test_add_func ("/natter/app/format/text-to-markup", test_text_to_markup);

  return g_test_run ();
}
