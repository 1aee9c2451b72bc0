"""Exception types. ``str(error)`` is always one line a user can act on (it names the fix)."""


class VoiceskillError(Exception):
    """Base class: the CLI prints ``voiceskill: error: <message>`` and exits non-zero."""

    exit_code = 1


class ArticleError(VoiceskillError):
    """An article file cannot be read or parsed."""


class IntentsError(VoiceskillError):
    """An intents file is malformed."""


class ModelError(VoiceskillError):
    """A speech model is missing, incomplete or fails to load."""


class AudioError(VoiceskillError):
    """An audio file or buffer is not usable (not audio, empty, silent, unsupported)."""


class DeviceError(VoiceskillError):
    """An audio or input device is missing, busy or not readable."""


class SpeakerError(VoiceskillError):
    """Text-to-speech or playback failed."""


class TriggerError(VoiceskillError):
    """A push-to-talk or wake trigger cannot be set up."""


class ConfigError(VoiceskillError):
    """A configuration file or value is invalid."""


class ServiceError(VoiceskillError):
    """Installing, removing or querying the systemd service failed."""
