/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-preferences"

#include "config.h"

#include <adwaita.h>

#include "natter-devices.h"
#include "natter-preferences-window.h"

/* Preferences offer the devices of the core's NatterDevices, the same
 * lists the calls and the call overlay's menu use, and follow them as
 * devices come and go. */

#define TEST_TYPE_DEVICE (test_device_get_type ())
G_DECLARE_FINAL_TYPE (TestDevice, test_device, TEST, DEVICE, GstDevice)

struct _TestDevice {
  GstDevice parent_instance;
};

G_DEFINE_FINAL_TYPE (TestDevice, test_device, GST_TYPE_DEVICE)

static void
test_device_class_init (TestDeviceClass *klass)
{
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

static GStrv
row_choices (NatterPreferencesWindow *preferences, const char *row_name)
{
  AdwComboRow *row = ADW_COMBO_ROW (gtk_widget_get_template_child (
    GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, row_name));
  GListModel *model = adw_combo_row_get_model (row);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; model != NULL && i < g_list_model_get_n_items (model); i++)
    g_strv_builder_add (builder, gtk_string_list_get_string (GTK_STRING_LIST (model), i));

  return g_strv_builder_end (builder);
}

static guint
row_selected (NatterPreferencesWindow *preferences, const char *row_name)
{
  return adw_combo_row_get_selected (ADW_COMBO_ROW (gtk_widget_get_template_child (
    GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, row_name)));
}

static void
assert_choices (NatterPreferencesWindow *preferences,
                const char *row_name,
                const char *const *expected)
{
  g_auto (GStrv) choices = row_choices (preferences, row_name);

  g_assert_cmpstrv (choices, expected);
}

static void
test_devices_from_core (void)
{
  g_autoptr (GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr (NatterDevices) devices = natter_devices_new ();
  g_autoptr (GstDevice) microphone = test_device_new ("USB Microphone", "Audio/Source");
  g_autoptr (GstDevice) camera = test_device_new ("Built-in Camera", "Video/Source");
  g_autoptr (GstDevice) headset = test_device_new ("Headset", "Audio/Sink");
  g_autoptr (GstDevice) second_camera = test_device_new ("Desk Camera", "Video/Source");
  g_autofree char *microphone_choice = NULL;
  NatterPreferencesWindow *preferences;

  natter_devices_add_device (devices, microphone);
  natter_devices_add_device (devices, camera);
  natter_devices_add_device (devices, headset);
  g_settings_set_string (settings, "camera", "Built-in Camera");

  preferences = natter_preferences_window_new (NULL, settings, "alice@example.org");
  g_assert_null (natter_preferences_window_get_devices (preferences));
  assert_choices (
    preferences, "camera_row",
    (const char *const[]){ "First Camera Found", "Built-in Camera (not connected)", NULL });

  natter_preferences_window_set_devices (preferences, devices);
  g_assert_true (natter_preferences_window_get_devices (preferences) == devices);
  assert_choices (preferences, "microphone_row",
                  (const char *const[]){ "System Default", "USB Microphone", NULL });
  assert_choices (preferences, "camera_row",
                  (const char *const[]){ "First Camera Found", "Built-in Camera", NULL });
  assert_choices (preferences, "speaker_row",
                  (const char *const[]){ "System Default", "Headset", NULL });
  g_assert_cmpuint (row_selected (preferences, "camera_row"), ==, 1);

  /* Hot-plug: a new camera appears, the chosen one goes and stays chosen. */
  natter_devices_add_device (devices, second_camera);
  assert_choices (
    preferences, "camera_row",
    (const char *const[]){ "First Camera Found", "Built-in Camera", "Desk Camera", NULL });
  natter_devices_remove_device (devices, camera);
  assert_choices (preferences, "camera_row",
                  (const char *const[]){ "First Camera Found", "Desk Camera",
                                         "Built-in Camera (not connected)", NULL });
  g_assert_cmpuint (row_selected (preferences, "camera_row"), ==, 2);

  /* A choice in the row is stored where the calls read it. */
  adw_combo_row_set_selected (
    ADW_COMBO_ROW (gtk_widget_get_template_child (
      GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, "microphone_row")),
    1);
  microphone_choice = g_settings_get_string (settings, "microphone");
  g_assert_cmpstr (microphone_choice, ==, "USB Microphone");

  /* Without devices, only the defaults and the saved choices remain. */
  natter_preferences_window_set_devices (preferences, NULL);
  assert_choices (preferences, "speaker_row", (const char *const[]){ "System Default", NULL });

  g_settings_reset (settings, "camera");
  g_settings_reset (settings, "microphone");
  gtk_window_destroy (GTK_WINDOW (preferences));
}

int
main (int argc, char **argv)
{
  g_setenv ("LANGUAGE", "C", TRUE);
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  adw_init ();

  g_test_add_func ("/natter/app/preferences/devices-from-core", test_devices_from_core);

  return g_test_run ();
}
