/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-devices"

#include "config.h"

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <unistd.h>

#include "natter-call-manager.h"
#include "natter-client.h"
#include "natter-devices.h"
#include "natter-test-client.h"
#include "natter-test-server.h"

/* NatterDevices against a device provider registered by this test (the
 * machine has no sound card or camera), and a call between two clients
 * whose microphone, camera and speaker are such devices. */

#define PROVIDER_NAME "natter-test-devices"
#define WAIT_MS 20000

/* A device that makes a test source or a fakesink. */

#define TEST_TYPE_DEVICE (test_device_get_type ())
G_DECLARE_FINAL_TYPE (TestDevice, test_device, TEST, DEVICE, GstDevice)

struct _TestDevice {
  GstDevice parent_instance;
};

G_DEFINE_FINAL_TYPE (TestDevice, test_device, GST_TYPE_DEVICE)

static GstElement *
test_device_create_element (GstDevice *device, const char *name)
{
  g_autofree char *klass = gst_device_get_device_class (device);
  const char *description;
  GstElement *element;

  if (gst_device_has_classes (device, "Video/Source"))
    description = "videotestsrc is-live=true pattern=ball ! "
                  "video/x-raw,width=320,height=240,framerate=30/1";
  else if (gst_device_has_classes (device, "Audio/Source"))
    description = "audiotestsrc is-live=true wave=ticks";
  else
    description = "fakesink sync=false async=false";

  element = gst_parse_bin_from_description (description, TRUE, NULL);
  if (element != NULL && name != NULL)
    gst_object_set_name (GST_OBJECT (element), name);
  return element;
}

static void
test_device_class_init (TestDeviceClass *klass)
{
  GST_DEVICE_CLASS (klass)->create_element = test_device_create_element;
}

static void
test_device_init (TestDevice *self)
{
}

static GstDevice *
test_device_new (const char *display_name, const char *device_class)
{
  g_autoptr (GstCaps) caps = gst_caps_new_any ();

  return g_object_new (TEST_TYPE_DEVICE, "display-name", display_name, "device-class", device_class,
                       "caps", caps, NULL);
}

/* A provider whose devices the test plugs in and out. */

#define TEST_TYPE_PROVIDER (test_provider_get_type ())
G_DECLARE_FINAL_TYPE (TestProvider, test_provider, TEST, PROVIDER, GstDeviceProvider)

struct _TestProvider {
  GstDeviceProvider parent_instance;
};

G_DEFINE_FINAL_TYPE (TestProvider, test_provider, GST_TYPE_DEVICE_PROVIDER)

static GList *
test_provider_probe (GstDeviceProvider *provider)
{
  return NULL;
}

static gboolean
test_provider_start (GstDeviceProvider *provider)
{
  /* What is plugged in when the monitor starts. */
  gst_device_provider_device_add (provider, test_device_new ("Test Microphone", "Audio/Source"));
  gst_device_provider_device_add (provider, test_device_new ("Test Camera", "Video/Source"));
  gst_device_provider_device_add (provider, test_device_new ("Test Speaker", "Audio/Sink"));
  return TRUE;
}

/* The base class drops the devices after stop(), under its lock. */
static void
test_provider_stop (GstDeviceProvider *provider)
{
}

static void
test_provider_class_init (TestProviderClass *klass)
{
  GstDeviceProviderClass *provider_class = GST_DEVICE_PROVIDER_CLASS (klass);

  provider_class->probe = test_provider_probe;
  provider_class->start = test_provider_start;
  provider_class->stop = test_provider_stop;
  gst_device_provider_class_set_static_metadata (provider_class, "Natter test devices",
                                                 "Audio/Video/Source/Sink", "Devices for tests",
                                                 "Natter");
}

static void
test_provider_init (TestProvider *self)
{
}

static GstDeviceProvider *
get_provider (void)
{
  GstDeviceProvider *provider = gst_device_provider_factory_get_by_name (PROVIDER_NAME);

  g_assert_nonnull (provider);
  return provider;
}

/* The #GstDevice the monitor found, as the list holds it. */
static GstDevice *
find_device (GListModel *model, const char *display_name)
{
  for (guint i = 0; i < g_list_model_get_n_items (model); i++) {
    g_autoptr (NatterDevice) device = g_list_model_get_item (model, i);

    if (g_strcmp0 (natter_device_get_display_name (device), display_name) == 0)
      return gst_object_ref (natter_device_get_gst_device (device));
  }
  return NULL;
}

static gboolean
has_device (GListModel *model, const char *display_name)
{
  g_autoptr (GstDevice) device = find_device (model, display_name);

  return device != NULL;
}

static char *
chosen_name (NatterDevice *device)
{
  return device != NULL ? g_strdup (natter_device_get_display_name (device)) : NULL;
}

static void
count_notify (GObject *object, GParamSpec *pspec, guint *count)
{
  (*count)++;
}

static void
test_lists_by_kind (void)
{
  g_autoptr (NatterDevices) devices = natter_devices_new ();
  GListModel *microphones = natter_devices_get_microphones (devices);
  GListModel *cameras = natter_devices_get_cameras (devices);
  GListModel *speakers = natter_devices_get_speakers (devices);

  g_assert_cmpuint (g_list_model_get_n_items (cameras), ==, 0);
  g_assert_false (natter_devices_get_has_camera (devices));

  g_assert_true (natter_devices_start (devices));
  g_assert_cmpuint (g_list_model_get_n_items (microphones), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (cameras), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (speakers), ==, 1);
  g_assert_true (has_device (microphones, "Test Microphone"));
  g_assert_true (has_device (cameras, "Test Camera"));
  g_assert_true (has_device (speakers, "Test Speaker"));
  g_assert_true (natter_devices_get_has_camera (devices));

  natter_devices_stop (devices);
  g_assert_finalize_object (g_steal_pointer (&devices));
}

static void
test_hot_plug (void)
{
  g_autoptr (NatterDevices) devices = natter_devices_new ();
  g_autoptr (GstDeviceProvider) provider = get_provider ();
  GListModel *cameras = natter_devices_get_cameras (devices);
  GListModel *microphones = natter_devices_get_microphones (devices);
  GstDevice *usb_camera = test_device_new ("USB Camera", "Video/Source");
  GstDevice *headset = test_device_new ("Headset Microphone", "Audio/Source");
  g_autoptr (GstDevice) camera = NULL;
  guint has_camera_notifies = 0;

  g_assert_true (natter_devices_start (devices));
  g_signal_connect (devices, "notify::has-camera", G_CALLBACK (count_notify), &has_camera_notifies);

  /* Plugged in: the lists follow on the main context. */
  gst_object_ref (usb_camera);
  gst_object_ref (headset);
  gst_device_provider_device_add (provider, usb_camera);
  gst_device_provider_device_add (provider, headset);
  natter_test_wait_until (has_device (cameras, "USB Camera"), WAIT_MS);
  natter_test_wait_until (has_device (microphones, "Headset Microphone"), WAIT_MS);
  g_assert_cmpuint (g_list_model_get_n_items (cameras), ==, 2);

  /* Unplugged: gone again. */
  gst_device_provider_device_remove (provider, headset);
  natter_test_wait_until (!has_device (microphones, "Headset Microphone"), WAIT_MS);
  g_assert_true (has_device (microphones, "Test Microphone"));

  /* The last camera goes: has-camera turns off, once. */
  camera = find_device (cameras, "Test Camera");
  gst_device_provider_device_remove (provider, camera);
  gst_device_provider_device_remove (provider, usb_camera);
  natter_test_wait_until (g_list_model_get_n_items (cameras) == 0, WAIT_MS);
  g_assert_false (natter_devices_get_has_camera (devices));
  g_assert_cmpuint (has_camera_notifies, ==, 1);

  natter_devices_stop (devices);
  gst_object_unref (usb_camera);
  gst_object_unref (headset);
  g_assert_finalize_object (g_steal_pointer (&devices));
}

static void
test_remembered_by_name (void)
{
  g_autoptr (NatterDevices) devices = natter_devices_new ();
  g_autoptr (GstDeviceProvider) provider = get_provider ();
  GstDevice *usb_camera = test_device_new ("USB Camera", "Video/Source");
  g_autoptr (NatterDevice) chosen = NULL;
  g_autofree char *name = NULL;
  guint name_notifies = 0;

  g_signal_connect (devices, "notify::camera-name", G_CALLBACK (count_notify), &name_notifies);
  /* The app binds the name to GSettings: it is set before the monitor
   * starts, and may name a camera that is not plugged in. */
  natter_devices_set_camera_name (devices, "USB Camera");
  natter_devices_set_camera_name (devices, "USB Camera");
  g_assert_cmpuint (name_notifies, ==, 1);
  g_assert_cmpstr (natter_devices_get_camera_name (devices), ==, "USB Camera");
  g_assert_true (natter_devices_start (devices));

  /* Not there: the first camera stands in, the choice is kept. */
  chosen = natter_devices_get_camera (devices);
  name = chosen_name (chosen);
  g_assert_cmpstr (name, ==, "Test Camera");
  g_assert_cmpstr (natter_devices_get_camera_name (devices), ==, "USB Camera");
  g_clear_object (&chosen);
  g_clear_pointer (&name, g_free);

  /* Plugged in: it is the one used. */
  gst_object_ref (usb_camera);
  gst_device_provider_device_add (provider, usb_camera);
  natter_test_wait_until (has_device (natter_devices_get_cameras (devices), "USB Camera"), WAIT_MS);
  chosen = natter_devices_get_camera (devices);
  name = chosen_name (chosen);
  g_assert_cmpstr (name, ==, "USB Camera");
  g_clear_object (&chosen);
  g_clear_pointer (&name, g_free);

  /* Unplugged again: back to the first, still remembered. */
  gst_device_provider_device_remove (provider, usb_camera);
  natter_test_wait_until (!has_device (natter_devices_get_cameras (devices), "USB Camera"),
                          WAIT_MS);
  chosen = natter_devices_get_camera (devices);
  name = chosen_name (chosen);
  g_assert_cmpstr (name, ==, "Test Camera");
  g_assert_cmpstr (natter_devices_get_camera_name (devices), ==, "USB Camera");
  g_assert_cmpuint (name_notifies, ==, 1);

  natter_devices_stop (devices);
  gst_object_unref (usb_camera);
  g_assert_finalize_object (g_steal_pointer (&devices));
}

/* A video call to someone without a camera: it rings as a video call, and
 * accepting it with video makes a call that sends voice only. */

static NatterClient *
signed_in_client (NatterTestServer *server, const char *email, char **out_dir)
{
  g_autoptr (GError) error = NULL;
  NatterClient *client;

  *out_dir = g_dir_make_tmp ("natter-test-devices-XXXXXX", &error);
  g_assert_no_error (error);
  client = natter_client_new (natter_test_server_get_url (server), *out_dir);
  natter_test_client_login (client, email, WAIT_MS);
  natter_test_wait_until (natter_test_client_is_connected (client), WAIT_MS);
  return client;
}

static NatterCallManager *
manager_of (NatterClient *client)
{
  NatterCallManager *manager = NULL;

  g_object_get (client, "call-manager", &manager, NULL);
  g_object_unref (manager);
  return manager;
}

static NatterCall *
first_call (NatterClient *client)
{
  GListModel *calls = natter_call_manager_get_calls (manager_of (client));
  g_autoptr (NatterCall) call = NULL;

  if (g_list_model_get_n_items (calls) == 0)
    return NULL;
  call = g_list_model_get_item (calls, 0);
  return call;
}

static guint64
audio_received (NatterCall *call)
{
  NatterCallPipeline *pipeline = natter_call_get_pipeline (call);

  return pipeline != NULL ? natter_call_pipeline_get_audio_buffers_received (pipeline) : 0;
}

static guint64
video_received (NatterCall *call)
{
  NatterCallPipeline *pipeline = natter_call_get_pipeline (call);

  return pipeline != NULL ? natter_call_pipeline_get_video_frames_received (pipeline) : 0;
}

static void
remove_dir (char *dir)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
    g_autofree char *child = g_build_filename (dir, name, NULL);

    if (g_file_test (child, G_FILE_TEST_IS_DIR))
      remove_dir (g_steal_pointer (&child));
    else
      g_remove (child);
  }
  g_rmdir (dir);
  g_free (dir);
}

static void
test_no_camera_answers_voice_only (void)
{
  NatterTestServer *server = natter_test_server_new (NULL);
  g_autoptr (NatterProfile) caller_profile = NULL;
  g_autoptr (NatterProfile) callee_profile = NULL;
  g_autoptr (NatterUser) caller_user = NULL;
  g_autoptr (NatterUser) callee_user = NULL;
  g_autofree char *token = NULL;
  char *caller_dir = NULL, *callee_dir = NULL;
  NatterClient *caller, *callee;
  g_autoptr (NatterDevices) caller_devices = natter_devices_new ();
  g_autoptr (NatterDevices) callee_devices = natter_devices_new ();
  g_autoptr (GstDevice) microphone = test_device_new ("Laptop Microphone", "Audio/Source");
  g_autoptr (GstDevice) speaker = test_device_new ("Laptop Speaker", "Audio/Sink");
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  NatterCall *placed;

  caller_user = natter_test_server_register (server, "abebe@example.org", "Abebe", "tutor", &token,
                                             &caller_profile);
  g_clear_pointer (&token, g_free);
  callee_user = natter_test_server_register (server, "bethlehem@example.org", "Bethlehem",
                                             "student", &token, &callee_profile);
  caller = signed_in_client (server, "abebe@example.org", &caller_dir);
  callee = signed_in_client (server, "bethlehem@example.org", &callee_dir);

  /* The caller has the provider's camera, microphone and speaker; the
   * callee a laptop without a camera. */
  g_assert_true (natter_devices_start (caller_devices));
  natter_call_manager_set_devices (manager_of (caller), caller_devices);
  natter_devices_add_device (callee_devices, microphone);
  natter_devices_add_device (callee_devices, speaker);
  g_assert_false (natter_devices_get_has_camera (callee_devices));
  natter_call_manager_set_devices (manager_of (callee), callee_devices);

  placed = natter_call_manager_start_call (manager_of (caller), callee_profile, "video", 0, &error);
  g_assert_no_error (error);
  outgoing = g_object_ref (placed);
  g_assert_true (natter_call_pipeline_get_with_video (natter_call_get_pipeline (outgoing)));

  /* It still rings, as a video call. */
  natter_test_wait_until (first_call (callee) != NULL &&
                            natter_call_get_state (first_call (callee)) ==
                              NATTER_CALL_STATE_RINGING_INCOMING,
                          WAIT_MS);
  incoming = g_object_ref (first_call (callee));
  g_assert_cmpstr (natter_call_get_call_type (incoming), ==, "video");
  g_assert_cmpint (natter_ringer_get_mode (natter_call_manager_get_ringer (manager_of (callee))),
                   ==, NATTER_RINGER_MODE_INCOMING);

  /* Accepting with video is no failure: voice goes out, video comes in. */
  g_assert_true (natter_call_accept (incoming, TRUE));
  natter_test_wait_until (natter_call_get_state (incoming) == NATTER_CALL_STATE_CONNECTED &&
                            natter_call_get_state (outgoing) == NATTER_CALL_STATE_CONNECTED,
                          WAIT_MS);
  g_assert_false (natter_call_pipeline_get_with_video (natter_call_get_pipeline (incoming)));
  natter_test_wait_until (audio_received (outgoing) >= 25 && audio_received (incoming) >= 25 &&
                            video_received (incoming) >= 15,
                          WAIT_MS);
  g_assert_cmpuint (video_received (outgoing), ==, 0);
  g_assert_cmpuint (
    natter_call_pipeline_get_video_frames_sent (natter_call_get_pipeline (incoming)), ==, 0);
  /* The caller learns there is no picture to expect. */
  natter_test_wait_until (!natter_call_get_remote_camera_enabled (outgoing), WAIT_MS);

  natter_call_hang_up (outgoing);
  natter_test_wait_until (natter_call_get_state (incoming) == NATTER_CALL_STATE_ENDED, WAIT_MS);

  natter_devices_stop (caller_devices);
  g_clear_object (&outgoing);
  g_clear_object (&incoming);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_finalize_object (caller);
  g_assert_finalize_object (callee);
  natter_test_server_free (server);
  remove_dir (caller_dir);
  remove_dir (callee_dir);
}

/* The app makes its NatterDevices at start-up; GStreamer (its registry,
 * 10 ms and 3 MiB) must wait for the first call or device list (issue 20).
 * In a subprocess: this test's main() initializes GStreamer otherwise. */
static void
test_gstreamer_loads_on_demand (void)
{
  if (g_test_subprocess ()) {
    g_autoptr (NatterDevices) devices = natter_devices_new ();
    g_autofree char *registry =
      g_strdup_printf ("%s/natter-test-devices-%d.bin", g_get_tmp_dir (), (int) getpid ());

    /* No plugins, so no device provider of the machine's (libpulse's
     * leaks would fail the ASan run), and a registry of its own. */
    g_setenv ("GST_PLUGIN_SYSTEM_PATH_1_0", "", TRUE);
    g_setenv ("GST_PLUGIN_PATH_1_0", "", TRUE);
    g_setenv ("GST_REGISTRY_1_0", registry, TRUE);
    natter_devices_start_on_demand (devices);
    g_assert_false (gst_is_initialized ());
    natter_devices_ensure_started (devices);
    g_assert_true (gst_is_initialized ());
    natter_devices_stop (devices);
    g_remove (registry);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

int
main (int argc, char *argv[])
{
  g_autolist (GstPluginFeature) others = NULL;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/natter/devices/gstreamer-loads-on-demand", test_gstreamer_loads_on_demand);
  if (g_test_subprocess ())
    return g_test_run ();
  gst_init (&argc, &argv);

  /* Only the test's devices: the machine's own providers (PulseAudio,
   * ALSA, V4L2) drop below the rank the monitor looks at. */
  others = gst_device_provider_factory_list_get_device_providers (GST_RANK_NONE);
  for (GList *l = others; l != NULL; l = l->next)
    gst_plugin_feature_set_rank (l->data, GST_RANK_NONE);
  g_assert_true (
    gst_device_provider_register (NULL, PROVIDER_NAME, GST_RANK_PRIMARY, TEST_TYPE_PROVIDER));

  /* The sources come from the devices, not from the environment. */
  g_unsetenv ("NATTER_VIDEO_SRC");
  g_unsetenv ("NATTER_AUDIO_SRC");
  g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=false", TRUE);
  g_setenv ("NATTER_SOUND_DIR", "/nonexistent", TRUE);
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);

  g_test_add_func ("/natter/devices/lists-by-kind", test_lists_by_kind);
  g_test_add_func ("/natter/devices/hot-plug", test_hot_plug);
  g_test_add_func ("/natter/devices/remembered-choice-by-name", test_remembered_by_name);
  g_test_add_func ("/natter/devices/no-camera-answers-video-call-voice-only",
                   test_no_camera_answers_voice_only);

  return g_test_run ();
}
