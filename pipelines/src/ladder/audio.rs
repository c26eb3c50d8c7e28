//! Audio renditions: one per language found in the source, AAC-LC stereo for every player.

use crate::plan::AudioRendition;
use crate::preset::AudioPreset;
use crate::source::AudioStreamInfo;

/// Languages a course is likely to carry: the ISO 639 codes containers use (639-2/T, 639-2/B
/// and 639-1), the BCP 47 tag the manifests want, and the name in the language itself, which
/// is what a viewer looks for in a player's menu.
const LANGUAGES: &[(&[&str], &str, &str)] = &[
    (&["eng", "en"], "en", "English"),
    (&["rus", "ru"], "ru", "Русский"),
    (&["fra", "fre", "fr"], "fr", "Français"),
    (&["deu", "ger", "de"], "de", "Deutsch"),
    (&["spa", "es"], "es", "Español"),
    (&["ita", "it"], "it", "Italiano"),
    (&["por", "pt"], "pt", "Português"),
    (&["ukr", "uk"], "uk", "Українська"),
    (&["bel", "be"], "be", "Беларуская"),
    (&["kaz", "kk"], "kk", "Қазақ тілі"),
    (&["uzb", "uz"], "uz", "Oʻzbekcha"),
    (&["pol", "pl"], "pl", "Polski"),
    (&["ces", "cze", "cs"], "cs", "Čeština"),
    (&["nld", "dut", "nl"], "nl", "Nederlands"),
    (&["swe", "sv"], "sv", "Svenska"),
    (&["fin", "fi"], "fi", "Suomi"),
    (&["tur", "tr"], "tr", "Türkçe"),
    (&["ell", "gre", "el"], "el", "Ελληνικά"),
    (&["heb", "he"], "he", "עברית"),
    (&["ara", "ar"], "ar", "العربية"),
    (&["hin", "hi"], "hi", "हिन्दी"),
    (&["zho", "chi", "zh"], "zh", "中文"),
    (&["jpn", "ja"], "ja", "日本語"),
    (&["kor", "ko"], "ko", "한국어"),
    (&["vie", "vi"], "vi", "Tiếng Việt"),
    (&["ind", "id"], "id", "Bahasa Indonesia"),
];

/// Track titles that muxers write by default and that say nothing to a viewer.
const MEANINGLESS_TITLES: &[&str] = &["soundhandler", "core media audio", "audio", "stereo", "mono", "default"];

/// The language tag as found, lower-cased, or `None` when absent or "undetermined".
fn source_language(stream: &AudioStreamInfo) -> Option<String> {
    let tag = stream.language.as_deref()?.trim().to_ascii_lowercase().replace('_', "-");
    (!tag.is_empty() && tag != "und").then_some(tag)
}

fn known_language(tag: &str) -> Option<&'static (&'static [&'static str], &'static str, &'static str)> {
    let primary = tag.split('-').next().unwrap_or(tag);
    LANGUAGES.iter().find(|(codes, _, _)| codes.contains(&primary))
}

/// The BCP 47 tag for the manifests: `eng` becomes `en`, a region is kept (`pt-br`).
fn manifest_language(tag: &str) -> String {
    match (known_language(tag), tag.split_once('-')) {
        (Some((_, short, _)), Some((_, region))) => format!("{short}-{region}"),
        (Some((_, short, _)), None) => (*short).to_owned(),
        (None, _) => tag.to_owned(),
    }
}

fn label(stream: &AudioStreamInfo, tag: Option<&str>) -> String {
    if let Some((_, _, name)) = tag.and_then(known_language) {
        return (*name).to_owned();
    }
    let title = stream
        .title
        .as_deref()
        .map(str::trim)
        .filter(|title| !title.is_empty() && !MEANINGLESS_TITLES.contains(&title.to_lowercase().as_str()));
    match (title, tag) {
        (Some(title), _) => title.to_owned(),
        (None, Some(tag)) => tag.to_owned(),
        (None, None) => "Audio".to_owned(),
    }
}

/// A folder-safe rendition name: `audio_eng`, `audio_pt-br`, or `audio` without a language.
fn rendition_name(tag: Option<&str>) -> String {
    match tag {
        None => "audio".to_owned(),
        Some(tag) => {
            let safe: String =
                tag.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
            format!("audio_{safe}")
        }
    }
}

/// One rendition per distinct language, in source order, the default first.
///
/// Within a language the stream the container marks default wins, otherwise the first; so a
/// commentary track in the same language is dropped. Streams without a language count as one
/// language. The default rendition is the container's default stream, else the first.
/// Output is always `preset.channels` at `preset.sample_rate`; mono sources get the preset's
/// lower mono bitrate, since both channels carry the same signal.
pub fn renditions(streams: &[AudioStreamInfo], preset: &AudioPreset) -> Vec<AudioRendition> {
    let mut ordered: Vec<&AudioStreamInfo> = streams.iter().collect();
    ordered.sort_by_key(|stream| stream.index);

    let mut chosen: Vec<(Option<String>, &AudioStreamInfo)> = Vec::new();
    for stream in ordered {
        let tag = source_language(stream);
        match chosen.iter_mut().find(|(seen, _)| *seen == tag) {
            Some(slot) if stream.default && !slot.1.default => slot.1 = stream,
            Some(_) => {}
            None => chosen.push((tag, stream)),
        }
    }
    if let Some(position) = chosen.iter().position(|(_, stream)| stream.default) {
        let default = chosen.remove(position);
        chosen.insert(0, default);
    }

    let mut renditions: Vec<AudioRendition> = Vec::with_capacity(chosen.len());
    for (position, (tag, stream)) in chosen.into_iter().enumerate() {
        let mut name = rendition_name(tag.as_deref());
        // Tags such as `en_US` and `en-us` fold to one name; the stream index keeps both.
        if renditions.iter().any(|rendition| rendition.name == name) {
            name = format!("{name}_{}", stream.index);
        }
        renditions.push(AudioRendition {
            name,
            source_index: stream.index,
            language: tag.as_deref().map(manifest_language),
            label: label(stream, tag.as_deref()),
            default: position == 0,
            bitrate: if stream.channels == 1 { preset.mono_bitrate } else { preset.bitrate },
            channels: preset.channels,
            sample_rate: preset.sample_rate,
            loudness: preset.loudness.target(),
        });
    }
    renditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::audio;
    use crate::preset::Preset;

    fn plan_audio(streams: &[AudioStreamInfo]) -> Vec<(String, Option<String>, String, bool)> {
        renditions(streams, &Preset::default_course().audio)
            .into_iter()
            .map(|r| (r.name, r.language, r.label, r.default))
            .collect()
    }

    fn row(name: &str, language: Option<&str>, label: &str, default: bool) -> (String, Option<String>, String, bool) {
        (name.to_owned(), language.map(str::to_owned), label.to_owned(), default)
    }

    #[test]
    fn each_language_gets_one_rendition_with_a_native_label() {
        let streams = [audio(1, Some("eng"), 2), audio(2, Some("fre"), 2), audio(3, Some("eng"), 2)];
        assert_eq!(
            plan_audio(&streams),
            [row("audio_eng", Some("en"), "English", true), row("audio_fre", Some("fr"), "Français", false)]
        );
    }

    #[test]
    fn the_container_default_comes_first_and_wins_within_its_language() {
        let mut streams = [audio(1, Some("eng"), 2), audio(2, Some("deu"), 2), audio(3, Some("deu"), 2)];
        for stream in &mut streams {
            stream.default = stream.index == 3;
        }
        let planned = renditions(&streams, &Preset::default_course().audio);
        let summary: Vec<(usize, bool)> = planned.iter().map(|r| (r.source_index, r.default)).collect();
        assert_eq!(summary, [(3, true), (1, false)]);
    }

    #[test]
    fn unlabelled_streams_count_as_one_language() {
        let streams = [audio(1, None, 2), audio(2, Some("und"), 2), audio(3, Some("ita"), 2)];
        assert_eq!(
            plan_audio(&streams),
            [row("audio", None, "Audio", true), row("audio_ita", Some("it"), "Italiano", false)]
        );
    }

    #[test]
    fn titles_label_unknown_languages_and_meaningless_titles_are_ignored() {
        let mut klingon = audio(1, Some("tlh"), 2);
        klingon.title = Some("tlhIngan Hol".to_owned());
        let mut unnamed = audio(2, Some("xho"), 2);
        unnamed.title = Some("SoundHandler".to_owned());
        assert_eq!(
            plan_audio(&[klingon, unnamed]),
            [row("audio_tlh", Some("tlh"), "tlhIngan Hol", true), row("audio_xho", Some("xho"), "xho", false)]
        );
    }

    #[test]
    fn regional_tags_keep_the_region_and_stay_folder_safe() {
        let streams = [audio(1, Some("pt_BR"), 2), audio(2, Some("pt-br"), 2)];
        assert_eq!(plan_audio(&streams), [row("audio_pt-br", Some("pt-br"), "Português", true)]);
    }

    #[test]
    fn mono_sources_are_planned_as_stereo_at_the_mono_bitrate() {
        let planned = renditions(&[audio(1, Some("eng"), 1)], &Preset::default_course().audio);
        assert_eq!((planned[0].channels, planned[0].sample_rate, planned[0].bitrate), (2, 48_000, 64_000));
    }
}
