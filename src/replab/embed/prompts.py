"""The LCO-EMB input format.

Every text becomes ``<chat prefix><instruction prompt><text><one-word-summary suffix>``: the official
recipe's one user message ``"{text}\nSummarize the above text in one word:"`` rendered with the model's
chat template and its generation prompt — no system message of replab's own unless one is configured
(the template's default applies, as in LCO-Embedding's code). The rendered string is split around the
text; replab tokenises prefix + text + suffix as one string, so its ids are exactly those of
tokenising the whole rendered template (``Template.ids``).

For sentence-transformers and mteb, which call the tokenizer on the bare text, the prefix and suffix
ids are also installed as the fast tokenizer's post-processor; those callers then differ from the
official ids only where a text's leading or trailing whitespace would merge across the seam.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from replab.errors import ConfigError

log = logging.getLogger(__name__)

SUMMARY_INSTRUCTION = "\nSummarize the above text in one word:"
_SLOT = "\u2063REPLAB_TEXT\u2063"  # invisible separator around a marker no real text contains


@dataclass
class PromptConfig:
    system: str = ""  # "" = no system message of our own: the chat template's default (the official recipe)
    instruction: str = SUMMARY_INSTRUCTION
    # prepended to the text (inside the user turn), per role; sentence-transformers "prompts"
    query: str = ""
    document: str = ""
    use_chat_template: bool = True
    # the suffix after media (multimodal bases; LCO-Embedding's wording)
    image: str = "\nSummarize the above image in one word:"
    audio: str = "\nSummarize the above audio in one word:"
    video: str = "\nSummarize the above video in one word:"
    fused: str = "\nSummarize the above in one word:"  # text + image

    def media(self):
        from replab.embed.qwen_media import MediaPrompts

        return MediaPrompts(self.image, self.audio, self.video, self.fused, self.system)


@dataclass
class Template:
    prefix_ids: list[int]
    suffix_ids: list[int]
    prompts: dict[str, str] = field(default_factory=dict)
    chat: bool = True
    prefix: str | None = None  # the rendered text around the user text (None in folders saved before)
    suffix: str | None = None
    lead_ids: list[int] = field(default_factory=list)  # ids before the rendered string (BOS, plain format)

    @property
    def overhead(self) -> int:
        return len(self.prefix_ids) + len(self.suffix_ids)

    def ids(self, tokenizer, texts: list[str]) -> list[list[int]]:
        """Token ids of ``prefix + text + suffix`` tokenised as one string, per text."""
        prefix = self.prefix if self.prefix is not None else tokenizer.decode(self.prefix_ids)
        suffix = self.suffix if self.suffix is not None else tokenizer.decode(self.suffix_ids)
        rows = tokenizer([prefix + t + suffix for t in texts], add_special_tokens=False)["input_ids"]
        return [self.lead_ids + row for row in rows]


def render_template(tokenizer, config: PromptConfig) -> Template:
    """Split the rendered chat turn around the text slot; a tokenizer without a chat template gets a plain
    ``<text><instruction>`` format, and the log says so."""
    chat = bool(config.use_chat_template and getattr(tokenizer, "chat_template", None))
    if chat:
        messages = [{"role": "user", "content": _SLOT + config.instruction}]
        if config.system:
            messages.insert(0, {"role": "system", "content": config.system})
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        if config.use_chat_template:
            log.warning("the tokenizer has no chat template: using the plain format '<text>%s'", config.instruction)
        rendered = _SLOT + config.instruction
    if rendered.count(_SLOT) != 1:
        raise ConfigError("the chat template dropped or repeated the user text; set prompt.use_chat_template=false")
    prefix, suffix = rendered.split(_SLOT)
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"] if s else []  # noqa: E731
    bos = [tokenizer.bos_token_id] if not chat and tokenizer.bos_token_id is not None else []
    prompts = {"query": config.query, "document": config.document}
    return Template(bos + encode(prefix), encode(suffix), prompts, chat, prefix, suffix, bos)


def install_template(tokenizer, template: Template) -> None:
    """Make ``tokenizer(text)`` produce ``prefix + text + suffix`` and pad on the left."""
    from tokenizers import processors

    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("replab embeddings need a fast (tokenizers-backed) tokenizer")
    specials = []
    pieces = []
    for name, ids in (("[REPLAB_PREFIX]", template.prefix_ids), ("[REPLAB_SUFFIX]", template.suffix_ids)):
        if ids:
            specials.append({"id": name, "ids": ids, "tokens": tokenizer.convert_ids_to_tokens(ids)})
        pieces.append(name if ids else None)
    single = " ".join(p for p in (pieces[0], "$A", pieces[1]) if p)
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(single=single, special_tokens=specials)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
