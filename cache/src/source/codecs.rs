//! Which decoder plays a codec, and what each codec needs from the decoding around it: its
//! pre-roll after a seek, whether it must be decoded in anchored segments, and whether its
//! packets all decode to the same number of frames.
//!
//! Runs on: whichever thread opens or repositions a source (control, filler).

use std::sync::LazyLock;
use std::time::Duration;

use symphonia::core::codecs::audio::well_known as codec_ids;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::errors::Error as SymError;

/// How far before a target a seek lands before decoding forward (source time).
const SEEK_PREROLL: Duration = Duration::from_millis(100);
/// Opus's pre-roll: RFC 7845 asks for at least 80 ms; measured on music, a decoder reset 100 ms
/// early still differs by up to −25 dB from a continuous decode at the target, 150 ms by
/// −70 dB (CELT's band energies converge slowly), so 200 ms.
const OPUS_SEEK_PREROLL: Duration = Duration::from_millis(200);

/// How far before a target a seek of this codec lands: far enough that what is decoded from
/// there is the front-to-back result (MP3's bit reservoir, AAC/Vorbis overlap, Opus state).
pub(super) fn preroll(params: &AudioCodecParameters) -> Duration {
    if params.codec == codec_ids::CODEC_ID_OPUS {
        OPUS_SEEK_PREROLL
    } else {
        SEEK_PREROLL
    }
}

/// Symphonia's decoders plus libopus (symphonia has no Opus decoder of its own).
pub(super) fn codecs() -> &'static CodecRegistry {
    static CODECS: LazyLock<CodecRegistry> = LazyLock::new(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
        registry
    });
    &CODECS
}

pub(super) fn make_decoder(
    params: &AudioCodecParameters,
) -> Result<Box<dyn AudioDecoder>, SymError> {
    let options = AudioDecoderOptions::default().gapless(true);
    if params.codec == codec_ids::CODEC_ID_OPUS {
        // Pre-skip is trimmed by the demuxer or the container offset, never by the adapter
        // (see `opus`).
        let mut params = params.clone();
        if let Some(head) = params.extra_data.as_deref() {
            params.extra_data = Some(super::opus::without_pre_skip(head));
        }
        return codecs().make_audio_decoder(&params, &options);
    }
    codecs().make_audio_decoder(params, &options)
}

/// Segment length (source frames) for codecs whose output depends on more history than a
/// pre-roll can rebuild, 0 for the others.
///
/// AAC's perceptual noise substitution draws from a random generator that runs for the life of
/// the decoder (and `reset` does not rewind it), so the same packet decodes differently
/// depending on what was decoded before; Opus (CELT's folding noise, SILK's and CELT's long
/// state) converges after the 80 ms RFC 7845 recommends but never bit for bit. For such
/// codecs the timeline is cut into segments at
/// fixed anchors: every segment is decoded by a fresh decoder from a seek to `anchor - pre-roll`,
/// both front to back and at random, which makes each frame a function of its segment alone.
pub(super) fn anchor_frames(params: &AudioCodecParameters) -> u64 {
    if params.codec == codec_ids::CODEC_ID_AAC || params.codec == codec_ids::CODEC_ID_OPUS {
        1 << 16
    } else {
        0
    }
}

/// Frames every packet of `params`' codec decodes to, for codecs where that is fixed (the
/// last packet may hold fewer): AAC-LC 1024, ALAC its magic cookie's frame length.
pub(super) fn fixed_packet_frames(params: &AudioCodecParameters) -> Option<u64> {
    if params.codec == codec_ids::CODEC_ID_AAC {
        Some(1024)
    } else if params.codec == codec_ids::CODEC_ID_ALAC {
        let cookie = params.extra_data.as_deref()?;
        symphonia_common::apple::audio::alac::MagicCookie::read(cookie)
            .ok()
            .map(|c| u64::from(c.frame_length))
            .filter(|&n| n > 0)
    } else {
        None
    }
}

/// A readable name for a codec, including ones symphonia has no decoder for.
pub(super) fn codec_name(id: symphonia::core::codecs::audio::AudioCodecId) -> String {
    if let Some(reg) = codecs().get_audio_decoder(id) {
        return reg.codec.info.short_name.to_string();
    }
    let known: &[(symphonia::core::codecs::audio::AudioCodecId, &str)] = &[
        (codec_ids::CODEC_ID_OPUS, "Opus"),
        (codec_ids::CODEC_ID_SPEEX, "Speex"),
        (codec_ids::CODEC_ID_AC3, "AC-3"),
        (codec_ids::CODEC_ID_EAC3, "E-AC-3"),
        (codec_ids::CODEC_ID_AC4, "AC-4"),
        (codec_ids::CODEC_ID_DCA, "DTS"),
        (codec_ids::CODEC_ID_WMA, "WMA"),
        (codec_ids::CODEC_ID_WAVPACK, "WavPack"),
        (codec_ids::CODEC_ID_MONKEYS_AUDIO, "Monkey's Audio"),
        (codec_ids::CODEC_ID_TTA, "TTA"),
        (codec_ids::CODEC_ID_TRUEHD, "TrueHD"),
        (codec_ids::CODEC_ID_MUSEPACK, "Musepack"),
        (codec_ids::CODEC_ID_ATRAC3, "ATRAC3"),
        (codec_ids::CODEC_ID_ATRAC3PLUS, "ATRAC3plus"),
        (codec_ids::CODEC_ID_ADPCM_G722, "G.722"),
        (codec_ids::CODEC_ID_ADPCM_G726, "G.726"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == id)
        .map(|(_, n)| (*n).to_string())
        .unwrap_or_else(|| format!("unknown codec {id}"))
}
