/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-opus-packet"

#include "config.h"

#include <math.h>
#include <gst/check/gstharness.h>
#include <opus.h>
#include <string.h>

#include "natter-audio-concealment.h"
#include "natter-opus-packet.h"

/* Opus packets' in-band FEC flags on real packets from libopus, checked
 * against what libopus's own decoder does with them; network input cut
 * short or garbage; and the count of lost frames rebuilt from FEC. */

#define RATE 48000
#define FRAME_SAMPLES 960 /* 20 ms */
#define PACKETS 80
#define MAX_PACKET 1500

typedef struct {
  guint8 *data;
  gsize size;
} Packet;

typedef struct {
  int application;
  opus_int32 bitrate;
  int max_bandwidth;
  gboolean fec;
  gboolean quiet; /* a faint hiss instead of the voice */
} EncoderSetup;

static const EncoderSetup silk = { OPUS_APPLICATION_VOIP, 24000, OPUS_BANDWIDTH_WIDEBAND, FALSE };
static const EncoderSetup silk_fec = { OPUS_APPLICATION_VOIP, 24000, OPUS_BANDWIDTH_WIDEBAND,
                                       TRUE };
static const EncoderSetup hybrid = { OPUS_APPLICATION_VOIP, 32000, OPUS_BANDWIDTH_FULLBAND, FALSE };
static const EncoderSetup hybrid_fec = { OPUS_APPLICATION_VOIP, 32000, OPUS_BANDWIDTH_FULLBAND,
                                         TRUE };
static const EncoderSetup hiss = { OPUS_APPLICATION_VOIP, 24000, OPUS_BANDWIDTH_WIDEBAND, TRUE,
                                   TRUE };
static const EncoderSetup celt = { OPUS_APPLICATION_RESTRICTED_LOWDELAY, 64000,
                                   OPUS_BANDWIDTH_FULLBAND, TRUE };

/* Something the encoder's voice activity detector takes for speech: a
 * harmonic sound whose pitch wanders, in syllables, over a little noise. */
static void
fill_voice (opus_int16 *pcm, guint frame, gboolean quiet)
{
  static guint32 noise = 12345;

  for (guint i = 0; i < FRAME_SAMPLES; i++) {
    double t = (double) (frame * FRAME_SAMPLES + i) / RATE;
    double pitch = 140 + 40 * sin (2 * G_PI * 0.7 * t);
    double envelope = 0.25 + 0.75 * fabs (sin (2 * G_PI * 2.5 * t));
    double sample = 0;

    for (int k = 1; k <= 20; k++)
      sample += sin (2 * G_PI * pitch * k * t) / k;
    noise = noise * 1664525u + 1013904223u;
    sample = quiet ? (double) ((int) (noise >> 26) - 32)
                   : 4000 * envelope * sample + (double) ((int) (noise >> 20) - 2048);
    pcm[i] = (opus_int16) CLAMP (sample, -32768, 32767);
  }
}

static void
packet_clear (gpointer data)
{
  g_free (((Packet *) data)->data);
}

static GArray *
encode_uncached (const EncoderSetup *setup)
{
  GArray *packets = g_array_new (FALSE, TRUE, sizeof (Packet));
  int error = 0;
  OpusEncoder *encoder = opus_encoder_create (RATE, 1, setup->application, &error);

  g_array_set_clear_func (packets, packet_clear);
  g_assert_cmpint (error, ==, OPUS_OK);
  g_assert_cmpint (opus_encoder_ctl (encoder, OPUS_SET_BITRATE (setup->bitrate)), ==, OPUS_OK);
  g_assert_cmpint (opus_encoder_ctl (encoder, OPUS_SET_MAX_BANDWIDTH (setup->max_bandwidth)), ==,
                   OPUS_OK);
  /* Told it is speech, libopus keeps SILK or hybrid (its analysis takes
   * this made-up voice for music at times, and picks CELT). */
  if (setup->application == OPUS_APPLICATION_VOIP)
    g_assert_cmpint (opus_encoder_ctl (encoder, OPUS_SET_SIGNAL (OPUS_SIGNAL_VOICE)), ==, OPUS_OK);
  g_assert_cmpint (opus_encoder_ctl (encoder, OPUS_SET_INBAND_FEC (setup->fec)), ==, OPUS_OK);
  g_assert_cmpint (opus_encoder_ctl (encoder, OPUS_SET_PACKET_LOSS_PERC (setup->fec ? 10 : 0)), ==,
                   OPUS_OK);
  for (guint i = 0; i < PACKETS; i++) {
    opus_int16 pcm[FRAME_SAMPLES];
    guint8 buffer[MAX_PACKET];
    Packet packet;
    opus_int32 size;

    fill_voice (pcm, i, setup->quiet);
    size = opus_encode (encoder, pcm, FRAME_SAMPLES, buffer, sizeof buffer);
    g_assert_cmpint (size, >, 0);
    /* Exactly sized, so that ASan and valgrind see any read past it. */
    packet.data = g_memdup2 (buffer, (gsize) size);
    packet.size = (gsize) size;
    g_array_append_val (packets, packet);
  }
  opus_encoder_destroy (encoder);
  return packets;
}

/* Each setup is encoded once per run (libopus is slow under valgrind). */
static GHashTable *encoded;

static GArray *
encode (const EncoderSetup *setup)
{
  GArray *packets;

  if (encoded == NULL)
    encoded = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_array_unref);
  packets = g_hash_table_lookup (encoded, setup);
  if (packets == NULL) {
    packets = encode_uncached (setup);
    g_hash_table_insert (encoded, (gpointer) setup, packets);
  }
  return g_array_ref (packets);
}

/* The packets after the encoder settled (its first ones switch modes). */
#define SETTLED 10

static guint
count_mode (GArray *packets, NatterOpusMode mode, guint *with_lbrr, guint *with_voice)
{
  guint count = 0;

  *with_lbrr = 0;
  *with_voice = 0;
  for (guint i = SETTLED; i < packets->len; i++) {
    Packet *packet = &g_array_index (packets, Packet, i);
    NatterOpusPacketInfo info;

    g_assert_true (natter_opus_packet_parse (packet->data, packet->size, &info));
    g_assert_cmpuint (info.samples_per_frame, ==, FRAME_SAMPLES);
    g_assert_cmpuint (info.frames, ==, 1);
    g_assert_cmpuint (info.channels, ==, 1);
    if (info.mode == mode)
      count++;
    if (info.has_lbrr)
      (*with_lbrr)++;
    if (info.has_voice)
      (*with_voice)++;
  }
  return count;
}

static void
test_modes_and_lbrr (void)
{
  const guint settled = PACKETS - SETTLED;
  g_autoptr (GArray) silk_packets = encode (&silk);
  g_autoptr (GArray) silk_fec_packets = encode (&silk_fec);
  g_autoptr (GArray) hybrid_packets = encode (&hybrid);
  g_autoptr (GArray) hybrid_fec_packets = encode (&hybrid_fec);
  g_autoptr (GArray) celt_packets = encode (&celt);
  g_autoptr (GArray) quiet_packets = encode (&hiss);
  guint lbrr, voice;

  g_assert_cmpuint (count_mode (silk_packets, NATTER_OPUS_MODE_SILK, &lbrr, &voice), ==, settled);
  g_assert_cmpuint (lbrr, ==, 0);
  g_assert_cmpuint (voice, >=, settled / 2);
  /* FEC on: redundancy in the packets SILK finds speech in (its voice
   * activity above 0.3): most of this signal's. */
  g_assert_cmpuint (count_mode (silk_fec_packets, NATTER_OPUS_MODE_SILK, &lbrr, &voice), ==,
                    settled);
  g_assert_cmpuint (lbrr, >=, settled / 2);
  g_assert_cmpuint (count_mode (hybrid_packets, NATTER_OPUS_MODE_HYBRID, &lbrr, &voice), ==,
                    settled);
  g_assert_cmpuint (lbrr, ==, 0);
  g_assert_cmpuint (count_mode (hybrid_fec_packets, NATTER_OPUS_MODE_HYBRID, &lbrr, &voice), ==,
                    settled);
  g_assert_cmpuint (lbrr, >=, settled / 2);
  /* CELT-only never carries LBRR, whatever its first byte. */
  g_assert_cmpuint (count_mode (celt_packets, NATTER_OPUS_MODE_CELT, &lbrr, &voice), ==, settled);
  g_assert_cmpuint (lbrr, ==, 0);
  g_assert_cmpuint (voice, ==, 0);
  /* A faint hiss: no voice, so no LBRR either, FEC on or not. */
  g_assert_cmpuint (count_mode (quiet_packets, NATTER_OPUS_MODE_SILK, &lbrr, &voice), ==, settled);
  g_assert_cmpuint (voice, ==, 0);
  g_assert_cmpuint (lbrr, ==, 0);
}

/* libopus's decoder is the judge: with packet i lost, decoding packet i+1
 * with decode_fec gives something else than plain concealment exactly when
 * it rebuilt packet i from i+1's LBRR. The decoder state is plain memory
 * (libopus lets it be copied), so both start from the same state. */
static void
check_against_decoder (const EncoderSetup *setup, guint *rebuilt)
{
  g_autoptr (GArray) packets = encode (setup);
  int error = 0;
  gsize state_size = (gsize) opus_decoder_get_size (1);
  OpusDecoder *decoder = opus_decoder_create (RATE, 1, &error);
  g_autofree OpusDecoder *with_fec = g_malloc (state_size);
  g_autofree OpusDecoder *concealing = g_malloc (state_size);

  g_assert_cmpint (error, ==, OPUS_OK);
  *rebuilt = 0;
  for (guint i = 0; i + 1 < packets->len; i++) {
    Packet *next = &g_array_index (packets, Packet, i + 1);
    Packet *packet = &g_array_index (packets, Packet, i);
    opus_int16 fec_pcm[FRAME_SAMPLES], plc_pcm[FRAME_SAMPLES], pcm[FRAME_SAMPLES];
    NatterOpusPacketInfo info;
    gboolean differs;

    if (i >= SETTLED) {
      memcpy (with_fec, decoder, state_size);
      memcpy (concealing, decoder, state_size);
      g_assert_cmpint (
        opus_decode (with_fec, next->data, (opus_int32) next->size, fec_pcm, FRAME_SAMPLES, 1), ==,
        FRAME_SAMPLES);
      g_assert_cmpint (opus_decode (concealing, NULL, 0, plc_pcm, FRAME_SAMPLES, 0), ==,
                       FRAME_SAMPLES);
      differs = memcmp (fec_pcm, plc_pcm, sizeof fec_pcm) != 0;
      g_assert_true (natter_opus_packet_parse (next->data, next->size, &info));
      if (info.has_lbrr != differs)
        g_error ("packet %u: LBRR flag %d, yet the decoder %s it", i + 1, info.has_lbrr,
                 differs ? "rebuilt" : "concealed");
      if (differs)
        (*rebuilt)++;
    }
    g_assert_cmpint (
      opus_decode (decoder, packet->data, (opus_int32) packet->size, pcm, FRAME_SAMPLES, 0), ==,
      FRAME_SAMPLES);
  }
  opus_decoder_destroy (decoder);
}

static void
test_lbrr_flag_matches_decoder (void)
{
  guint rebuilt;

  check_against_decoder (&silk_fec, &rebuilt);
  g_assert_cmpuint (rebuilt, >=, (PACKETS - SETTLED) / 2);
  check_against_decoder (&hybrid_fec, &rebuilt);
  g_assert_cmpuint (rebuilt, >=, (PACKETS - SETTLED) / 2);
  check_against_decoder (&silk, &rebuilt);
  g_assert_cmpuint (rebuilt, ==, 0);
}

/* Network input: every cut of real packets, and garbage, is either a valid
 * packet or refused, and never read past its end (ASan, valgrind). */
static void
test_cut_short_and_garbage (void)
{
  const EncoderSetup *setups[] = { &silk_fec, &hybrid_fec, &celt };
  const guint8 zero_frames[] = { 0x03 | (12 << 3), 0x00 };          /* code 3, no frame */
  const guint8 odd_pair[] = { 0x01 | (12 << 3), 0xaa, 0xbb, 0xcc }; /* code 1: 2 equal halves */
  const guint8 too_long[] = { 0x02 | (1 << 3), 0xfc };              /* code 2: size past end */
  NatterOpusPacketInfo info;
  GRand *rand = g_rand_new_with_seed (14);

  g_assert_false (natter_opus_packet_parse (NULL, 0, &info));
  g_assert_false (natter_opus_packet_parse ((const guint8 *) "", 0, &info));
  g_assert_false (natter_opus_packet_parse (zero_frames, sizeof zero_frames, &info));
  g_assert_false (natter_opus_packet_parse (odd_pair, sizeof odd_pair, &info));
  g_assert_false (natter_opus_packet_parse (too_long, sizeof too_long, &info));
  g_assert_false (info.has_lbrr);

  for (guint s = 0; s < G_N_ELEMENTS (setups); s++) {
    g_autoptr (GArray) packets = encode (setups[s]);

    for (guint i = 0; i < packets->len; i += 7) {
      Packet *packet = &g_array_index (packets, Packet, i);

      for (gsize cut = 0; cut <= packet->size; cut++) {
        g_autofree guint8 *copy = g_memdup2 (packet->data, cut);
        const unsigned char *frames[48];
        opus_int16 sizes[48];
        gboolean valid =
          cut > 0 && opus_packet_parse (copy, (opus_int32) cut, NULL, frames, sizes, NULL) > 0;

        g_assert_cmpint (natter_opus_packet_parse (copy, cut, &info), ==, valid);
      }
    }
  }

  for (guint i = 0; i < 5000; i++) {
    gsize size = (gsize) g_rand_int_range (rand, 1, 80);
    g_autofree guint8 *garbage = g_malloc (size);
    const unsigned char *frames[48];
    opus_int16 sizes[48];

    for (gsize b = 0; b < size; b++)
      garbage[b] = (guint8) g_rand_int_range (rand, 0, 256);
    g_assert_cmpint (natter_opus_packet_parse (garbage, size, &info), ==,
                     opus_packet_parse (garbage, (opus_int32) size, NULL, frames, sizes, NULL) > 0);
    if (info.mode == NATTER_OPUS_MODE_CELT)
      g_assert_false (info.has_lbrr);
  }
  g_rand_free (rand);
}

/* A packet of @packets with (or without) LBRR and voice, after the first
 * ones. */
static Packet *
find_packet (GArray *packets, gboolean lbrr, gboolean voice)
{
  for (guint i = SETTLED; i < packets->len; i++) {
    Packet *packet = &g_array_index (packets, Packet, i);
    NatterOpusPacketInfo info;

    if (natter_opus_packet_parse (packet->data, packet->size, &info) && info.has_lbrr == lbrr &&
        info.has_voice == voice)
      return packet;
  }
  g_assert_not_reached ();
  return NULL;
}

#define GAP_US 20000

static void
test_concealment_counts (void)
{
  g_autoptr (GArray) fec_packets = encode (&hybrid_fec);
  g_autoptr (GArray) plain_packets = encode (&silk);
  g_autoptr (GArray) celt_packets = encode (&celt);
  g_autoptr (GArray) quiet_packets = encode (&hiss);
  Packet *lbrr = find_packet (fec_packets, TRUE, TRUE);
  Packet *hissing = &g_array_index (quiet_packets, Packet, SETTLED);
  Packet *plain = find_packet (plain_packets, FALSE, TRUE);
  Packet *celt_packet = find_packet (celt_packets, FALSE, FALSE);
  g_autoptr (NatterAudioConcealment) counter = natter_audio_concealment_new (TRUE);
  g_autoptr (NatterAudioConcealment) no_fec = natter_audio_concealment_new (FALSE);

  natter_audio_concealment_add_packet (counter, lbrr->data, lbrr->size);
  /* One lost: rebuilt from the next packet. */
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_packet (counter, lbrr->data, lbrr->size);
  g_assert_cmpuint (natter_audio_concealment_get_lost_frames (counter), ==, 1);
  g_assert_cmpuint (natter_audio_concealment_get_rebuilt_frames (counter), ==, 1);
  /* Two lost in a row, as two gaps or as one of 40 ms: only the second is
   * rebuilt. */
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_packet (counter, lbrr->data, lbrr->size);
  natter_audio_concealment_add_gap (counter, 2 * GAP_US);
  natter_audio_concealment_add_packet (counter, lbrr->data, lbrr->size);
  g_assert_cmpuint (natter_audio_concealment_get_lost_frames (counter), ==, 5);
  g_assert_cmpuint (natter_audio_concealment_get_rebuilt_frames (counter), ==, 3);
  /* The next packet has no LBRR, is CELT-only, or is garbage: concealed. */
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_packet (counter, plain->data, plain->size);
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_packet (counter, celt_packet->data, celt_packet->size);
  g_assert_cmpuint (natter_audio_concealment_get_rebuilt_frames (counter), ==, 3);
  /* After a CELT-only packet libopus does not look for FEC at all. */
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_packet (counter, lbrr->data, lbrr->size);
  g_assert_cmpuint (natter_audio_concealment_get_rebuilt_frames (counter), ==, 3);
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_packet (counter, (const guint8 *) "\xff", 1);
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_packet (counter, NULL, 0);
  g_assert_cmpuint (natter_audio_concealment_get_rebuilt_frames (counter), ==, 3);
  /* Back to SILK/hybrid; a gap of unknown length is one frame; one shorter
   * than a frame cannot be rebuilt from a 20 ms frame. */
  natter_audio_concealment_add_packet (counter, lbrr->data, lbrr->size);
  natter_audio_concealment_add_gap (counter, -1);
  natter_audio_concealment_add_packet (counter, lbrr->data, lbrr->size);
  g_assert_cmpuint (natter_audio_concealment_get_rebuilt_frames (counter), ==, 4);
  natter_audio_concealment_add_gap (counter, GAP_US / 2);
  natter_audio_concealment_add_packet (counter, lbrr->data, lbrr->size);
  g_assert_cmpuint (natter_audio_concealment_get_rebuilt_frames (counter), ==, 4);
  g_assert_cmpuint (natter_audio_concealment_get_lost_frames (counter), ==, 12);
  g_assert_cmpuint (natter_audio_concealment_get_packets (counter), ==, 12);
  g_assert_cmpuint (natter_audio_concealment_get_silent_concealed_frames (counter), ==, 0);

  /* Two frames lost between packets without voice: silence concealed;
   * between silence and speech: not silent. */
  natter_audio_concealment_add_packet (counter, hissing->data, hissing->size);
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_packet (counter, hissing->data, hissing->size);
  g_assert_cmpuint (natter_audio_concealment_get_silent_concealed_frames (counter), ==, 2);
  natter_audio_concealment_add_gap (counter, GAP_US);
  natter_audio_concealment_add_packet (counter, plain->data, plain->size);
  g_assert_cmpuint (natter_audio_concealment_get_silent_concealed_frames (counter), ==, 2);
  g_assert_cmpuint (natter_audio_concealment_get_rebuilt_frames (counter), ==, 4);

  /* A gap of any length counts as a minute at most. */
  natter_audio_concealment_add_gap (no_fec, G_MAXINT64);
  g_assert_cmpuint (natter_audio_concealment_get_lost_frames (no_fec), ==, 60 * 50);
  natter_audio_concealment_add_packet (no_fec, lbrr->data, lbrr->size);

  /* A decoder without use-inband-fec conceals everything. */
  natter_audio_concealment_add_packet (no_fec, lbrr->data, lbrr->size);
  natter_audio_concealment_add_gap (no_fec, GAP_US);
  natter_audio_concealment_add_packet (no_fec, lbrr->data, lbrr->size);
  g_assert_cmpuint (natter_audio_concealment_get_lost_frames (no_fec), ==, 60 * 50 + 1);
  g_assert_cmpuint (natter_audio_concealment_get_rebuilt_frames (no_fec), ==, 0);
}

/* The counter on a real opusdec (as a call sets it up): it sees the gaps
 * opusdec sees, and counts as rebuilt the single losses followed by a
 * packet with LBRR. */
static void
test_watching_opusdec (void)
{
  g_autoptr (GArray) packets = encode (&hybrid_fec);
  GstHarness *harness = gst_harness_new ("opusdec");
  g_autoptr (GstStructure) decoder_stats = NULL;
  NatterAudioConcealment *concealment;
  guint lost = 0, expected_rebuilt = 0;
  guint64 gaps = 0;
  gboolean lost_before = FALSE;

  g_object_set (harness->element, "plc", TRUE, "use-inband-fec", TRUE, NULL);
  concealment = natter_audio_concealment_watch_decoder (harness->element);
  g_assert_nonnull (concealment);
  g_assert_true (natter_audio_concealment_get_for_decoder (harness->element) == concealment);
  gst_harness_set_src_caps_str (harness, "audio/x-opus, channel-mapping-family=(int)0, "
                                         "channels=(int)1, rate=(int)48000");
  for (guint i = 0; i < packets->len; i++) {
    Packet *packet = &g_array_index (packets, Packet, i);
    GstClockTime pts = i * 20 * GST_MSECOND;
    /* Every 7th lost, and 40-41 lost in a row. */
    gboolean lose = i > SETTLED && (i % 7 == 0 || i == 41);

    if (lose) {
      g_assert_true (gst_harness_push_event (harness, gst_event_new_gap (pts, 20 * GST_MSECOND)));
      lost++;
    } else {
      GstBuffer *buffer = gst_buffer_new_memdup (packet->data, packet->size);
      NatterOpusPacketInfo info;

      GST_BUFFER_PTS (buffer) = pts;
      GST_BUFFER_DURATION (buffer) = 20 * GST_MSECOND;
      g_assert_cmpint (gst_harness_push (harness, buffer), ==, GST_FLOW_OK);
      g_assert_true (natter_opus_packet_parse (packet->data, packet->size, &info));
      if (lost_before && info.has_lbrr)
        expected_rebuilt++;
    }
    lost_before = lose;
  }
  g_object_get (harness->element, "stats", &decoder_stats, NULL);
  g_assert_true (gst_structure_get_uint64 (decoder_stats, "num-gap", &gaps));
  g_assert_cmpuint (gaps, ==, lost);
  g_assert_cmpuint (natter_audio_concealment_get_lost_frames (concealment), ==, lost);
  g_assert_cmpuint (natter_audio_concealment_get_packets (concealment), ==, packets->len - lost);
  g_assert_cmpuint (expected_rebuilt, >=, lost / 2);
  g_assert_cmpuint (natter_audio_concealment_get_rebuilt_frames (concealment), ==,
                    expected_rebuilt);
  gst_harness_teardown (harness);
}

int
main (int argc, char *argv[])
{
  int status;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/opus-packet/modes-and-lbrr", test_modes_and_lbrr);
  g_test_add_func ("/opus-packet/lbrr-flag-matches-decoder", test_lbrr_flag_matches_decoder);
  g_test_add_func ("/opus-packet/cut-short-and-garbage", test_cut_short_and_garbage);
  g_test_add_func ("/audio-concealment/counts", test_concealment_counts);
  g_test_add_func ("/audio-concealment/watching-opusdec", test_watching_opusdec);
  status = g_test_run ();
  g_clear_pointer (&encoded, g_hash_table_unref);
  return status;
}
