/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call"

/* The self view of a call: the app hands a video sink for the camera's own
 * picture to each pipeline the call builds, through NatterCall, so that no
 * view reaches into NatterCallPipeline and core stays free of GTK. */

#include "config.h"

#include "natter-call.h"

/**
 * natter_call_wants_local_video_sink:
 * @self: a #NatterCall
 *
 * Whether the call's current media side would take a self-view sink: it
 * sends video, has none yet, and has not started (a started pipeline keeps
 * the elements it has). Each new pipeline of the call (an ICE restart
 * builds one) wants one again; #NatterCall:pipeline notifies then.
 *
 * Returns: %TRUE if natter_call_set_local_video_sink() would be taken
 */
gboolean
natter_call_wants_local_video_sink (NatterCall *self)
{
  NatterCallPipeline *pipeline;

  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);

  pipeline = natter_call_get_pipeline (self);
  return pipeline != NULL && natter_call_pipeline_get_with_video (pipeline) &&
         natter_call_pipeline_get_local_video_sink (pipeline) == NULL;
}

/**
 * natter_call_set_local_video_sink:
 * @self: a #NatterCall
 * @sink: (transfer floating): where the camera's own picture goes
 *
 * Hands the self view's sink to the current media side, if it still takes
 * one (natter_call_wants_local_video_sink()). A floating @sink that is not
 * taken is freed.
 *
 * Returns: %TRUE if the pipeline took @sink
 */
gboolean
natter_call_set_local_video_sink (NatterCall *self, GstElement *sink)
{
  g_autoptr (GstElement) owned = NULL;
  NatterCallPipeline *pipeline;

  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  g_return_val_if_fail (GST_IS_ELEMENT (sink), FALSE);

  /* Ours until the pipeline takes it; a started pipeline refuses it. */
  owned = gst_object_ref_sink (sink);
  if (!natter_call_wants_local_video_sink (self))
    return FALSE;

  pipeline = natter_call_get_pipeline (self);
  natter_call_pipeline_set_local_video_sink (pipeline, sink);

  return natter_call_pipeline_get_local_video_sink (pipeline) == sink;
}
