"""Dialog state over a conversation: what was said last, and what "tell me more" goes on with.

The router is stateless; :class:`Dialog` turns its meta intents into replies:
``repeat`` says the last answer again, ``more`` goes on with the current topic, ``stop``
says nothing, ``help`` lists what can be asked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from voiceskill.intents import Intent
from voiceskill.router import Reply, Router

log = logging.getLogger(__name__)

NOTHING_YET = "I haven't said anything yet. "
NO_TOPIC = "Ask me a question first. "
ALL_SAID = "That's all the article says about that. Ask me something else, or say 'help'."


class Dialog:
    """One conversation. Not thread-safe: the orchestrator calls it from one thread."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._last = ""
        self._topic: Intent | None = None
        self._more_index = 0

    def reset(self) -> None:
        self._last, self._topic, self._more_index = "", None, 0

    def handle(self, text: str, confidences: Sequence[float] | None = None) -> Reply:
        """Route an utterance and answer it in this conversation."""
        return self.respond(self.router.route(text, confidences))

    def respond(self, reply: Reply) -> Reply:
        """Answer a reply already routed in this conversation: speech's decision step
        (:mod:`voiceskill.decide`) chooses from every pass, and what it chose is what is said,
        not what routing the chosen words alone again would give."""
        intents = self.router.intents
        if reply.intent == "more" and reply.topic_hint and (
                self._topic is None or reply.topic_hint != self._topic.name):
            # "tell me more about water": a question about water, not more of the last topic
            reply = replace(reply, intent=reply.topic_hint, answer=intents.by_name(reply.topic_hint).answer)
        if reply.intent == "repeat":
            answer = self._last or NOTHING_YET + self.router.help()
        elif reply.intent == "more":
            answer = self._more()
        elif reply.intent == "stop":
            answer = ""
        elif reply.intent == "help":
            answer = self.router.help()
        elif reply.intent is None:
            answer = reply.answer
        else:
            self._topic = intents.by_name(reply.intent)
            self._more_index = 0
            answer = reply.answer
        if answer and reply.intent != "repeat":
            self._last = answer
        log.debug("dialog: %r -> %s (%.2f) %s", reply.input, reply.intent, reply.confidence, reply.scores)
        return replace(reply, answer=answer)

    def _more(self) -> str:
        if self._topic is None:
            return NO_TOPIC + self.router.help()
        if self._more_index < len(self._topic.more):
            text = self._topic.more[self._more_index]
            self._more_index += 1
            return text
        return ALL_SAID
