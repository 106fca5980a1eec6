/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fuzz-frame"

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natter-frame.h"
#include "natter-json.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* A critical or warning from the library is a bug the fuzzer should report. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

static void
check_json (const char *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (JsonNode) again = NULL;
  g_autofree char *text = NULL;
  g_autofree char *text_again = NULL;
  gsize length = 0;

  node = natter_json_parse (data, size, &error);
  if (node == NULL) {
    if (error == NULL ||
        !g_error_matches (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON))
      abort ();
    return;
  }

  /* What the writer writes, the reader reads back to an equal value. */
  text = natter_json_to_string (node, &length);
  again = natter_json_parse (text, length, &error);
  if (again == NULL || !json_node_equal (node, again))
    abort ();
  text_again = natter_json_to_string (again, NULL);
  if (strcmp (text, text_again) != 0)
    abort ();
}

static void
check_frame (const char *data, size_t size, NatterDirection direction)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterFrame) frame = NULL;
  g_autoptr (NatterFrame) again = NULL;
  g_autoptr (NatterFrame) copy = NULL;
  g_autoptr (NatterFrame) error_frame = NULL;
  g_autofree char *ref = NULL;
  g_autofree char *json = NULL;
  g_autofree char *json_again = NULL;
  g_autofree char *json_copy = NULL;
  g_autofree char *error_json = NULL;
  gsize length = 0;

  frame = natter_frame_parse (data, size, direction, &ref, &error);
  if (frame == NULL) {
    if (error == NULL || error->domain != NATTER_PROTOCOL_ERROR)
      abort ();
    /* The error frame for it is itself a valid frame to a client. */
    error_frame = natter_frame_new_error (error, ref);
    error_json = natter_frame_to_json (error_frame, &length);
    g_clear_error (&error);
    again = natter_frame_parse (error_json, length, NATTER_DIRECTION_TO_CLIENT, NULL, &error);
    if (again == NULL)
      abort ();
    return;
  }

  if (ref != NULL)
    abort ();

  /* Serialize, parse again: it must succeed and say the same. */
  json = natter_frame_to_json (frame, &length);
  again = natter_frame_parse (json, length, direction, NULL, &error);
  if (again == NULL || again->type != frame->type)
    abort ();
  json_again = natter_frame_to_json (again, NULL);
  if (strcmp (json, json_again) != 0)
    abort ();

  copy = natter_frame_copy (frame);
  json_copy = natter_frame_to_json (copy, NULL);
  if (strcmp (json, json_copy) != 0)
    abort ();

  /* A client never speaks as someone else. */
  if (direction == NATTER_DIRECTION_TO_SERVER &&
      (frame->from_profile_id != 0 || frame->from_profile_type != NULL ||
       frame->from_name != NULL || frame->from_avatar != NULL))
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;

  check_json (text, size);
  check_frame (text, size, NATTER_DIRECTION_TO_SERVER);
  check_frame (text, size, NATTER_DIRECTION_TO_CLIENT);

  return 0;
}
