"""``Embedder``: a generative LM (or the language tower of a VLM) as a text embedding model.

Last-token (or mean) pooling, L2-normalised, in the sentence-transformers ``encode`` shape. The texts of a
batch run packed end to end (``replab.embed.packing``), so no padding reaches the linears. Tokens that
every text of a batch shares — the chat prefix and the instruction prompt — are run once and their
keys/values broadcast to the batch (exact: positions continue after them), which removes about a third
of the work on short inputs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from replab.core.hub import resolve_model
from replab.core.inference import in_parallel
from replab.core.progress import progress_bar
from replab.core.train import autocast, bf16_supported
from replab.embed.media import Item, media_kind, read_item
from replab.embed.packing import enable_packing, pack_rows
from replab.embed.prompts import PromptConfig, Template, install_template, render_template
from replab.embed.qwen_media import MediaLimits, MediaPrompts, MediaRow, QwenMedia
from replab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

EMBEDDER_FILE = "replab_embedder.json"
POOLINGS = ("last", "mean")
ALL_LAYERS = -1000  # ``layer`` value asking for the pooled states of every layer at once


MULTIMODAL_TYPES = {"qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
                    "qwen2_5_omni_thinker": "Qwen2_5OmniThinkerForConditionalGeneration"}  # fmt: skip
FMNIST_VLM = "replab_fmnist_vlm"  # replab's own small VLM (replab.embed.fmnist_vlm)


def _raw_config(path: str) -> dict:
    """``config.json`` of a folder or a (cached) hub id, as a dict: no model-type registry needed."""
    from transformers import PretrainedConfig

    return PretrainedConfig.get_config_dict(path)[0]


def language_tower(model: torch.nn.Module) -> torch.nn.Module:
    """The text decoder of a vision-language model (Qwen2.5-VL / Omni: ``model.model.language_model``), else
    the model."""
    for owner in (model, getattr(model, "model", None)):
        for attr in ("language_model", "text_model"):
            tower = getattr(owner, attr, None)
            if isinstance(tower, torch.nn.Module):
                return tower
    return model


def is_multimodal(model: torch.nn.Module) -> bool:
    """A Qwen2.5-VL, a Qwen2.5-Omni thinker or replab's small VLM (the families whose inputs replab builds)."""
    return getattr(model.config, "model_type", "") in (*MULTIMODAL_TYPES, FMNIST_VLM)


def load_base(path: str, dtype: torch.dtype) -> torch.nn.Module:
    """The model of a folder: a multimodal one whole (towers included, in its own class, so that it saves in
    the released layout); a causal LM without its unused head."""
    from transformers import AutoModel

    raw = _raw_config(path)
    if raw.get("model_type") == FMNIST_VLM:
        from replab.embed.fmnist_vlm import FmnistVLM

        return _quietly(FmnistVLM.from_pretrained, path, dtype=dtype).eval()
    if raw.get("model_type") in MULTIMODAL_TYPES:  # by its class: older transformers have no auto type for the thinker
        import transformers

        architecture = (raw.get("architectures") or [MULTIMODAL_TYPES[raw["model_type"]]])[0]
        return _quietly(getattr(transformers, architecture).from_pretrained, path, dtype=dtype).eval()
    return _quietly(AutoModel.from_pretrained, path, dtype=dtype)  # a causal LM's unused lm_head is expected


def media_builder(model: torch.nn.Module):
    """The class that turns items into model inputs for ``model``'s family."""
    if model.config.model_type == FMNIST_VLM:
        from replab.embed.fmnist_vlm import FmnistMedia

        return FmnistMedia
    return QwenMedia


def resolve_base(name_or_path: str) -> str:
    """``smollm2`` → the cached safetensors folder of the offline SmolLM2-135M-Instruct; else a model folder or
    a hub id, checked (one line when it is neither) before transformers is asked."""
    if name_or_path == "smollm2":
        from replab.core.smollm2 import smollm2_folder

        return str(smollm2_folder())
    return resolve_model(name_or_path)


class Embedder:
    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        template: Template,
        pooling: str = "last",
        max_length: int | None = None,
        share_prefix: bool = True,
        bf16: bool | None = None,
        max_text_tokens: int = 300,
        media: QwenMedia | None = None,
        full: torch.nn.Module | None = None,
    ) -> None:
        """``max_text_tokens``: each text is cut to this many tokens before it is put in the template (the
        official MTEB path: 300); ``max_length``: an optional cap on the whole row, template included.
        ``bf16``: autocast inference to bfloat16; None = where the device has bf16 units (faster, not
        bit-exact against fp32), False = fp32. ``media`` and ``full``: for a multimodal base, its input
        builder and the whole model (``model`` is then its language model, the part LoRA trains)."""
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling: unknown '{pooling}'; valid: {', '.join(POOLINGS)}")
        if max_length is not None and max_length <= template.overhead:
            raise ConfigError(
                f"max_length={max_length} leaves no room for text after the {template.overhead}-token template"
            )
        if max_text_tokens < 1:
            raise ConfigError(f"max_text_tokens={max_text_tokens}: must be at least 1")
        self.model, self.tokenizer, self.template = model, tokenizer, template
        self.pooling, self.max_length, self.share_prefix = pooling, max_length, share_prefix
        self.bf16, self.max_text_tokens = bf16, max_text_tokens
        self.media, self.full = media, full
        self.packed = enable_packing(model)
        if media is None:  # sentence-transformers and mteb tokenise bare texts: the template goes in the tokenizer
            install_template(tokenizer, template)
        else:  # a multimodal folder stays loadable by its own processor, so its tokenizer is left as it is
            tokenizer.padding_side = "left"

    # ---- loading -----------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        pooling: str | None = None,
        prompt: PromptConfig | None = None,
        max_length: int | None = None,
        max_text_tokens: int | None = None,
        dtype: torch.dtype = torch.float32,
        bf16: bool | None = None,
        media_limits: MediaLimits | None = None,
    ) -> Embedder:
        """A hub id or folder of a causal LM, a Qwen2.5-VL or a Qwen2.5-Omni thinker (the released
        LCO-Embedding-Omni models; the whole model is kept, its towers included), ``smollm2`` (the offline
        default), or a folder that replab saved (its pooling, prompts, template and media limits are read back)."""
        from transformers import AutoTokenizer

        path = resolve_base(name_or_path)
        saved = Path(path, EMBEDDER_FILE)
        info = json.loads(saved.read_text()) if saved.exists() else {}
        tokenizer = AutoTokenizer.from_pretrained(path)
        full = load_base(path, dtype)
        tower = language_tower(full).eval()
        if info and prompt is None:
            known = {k: info[k] for k in Template.__dataclass_fields__ if k in info}
            template = Template(**known)
        else:
            template = render_template(tokenizer, prompt or PromptConfig())
        media = None
        if is_multimodal(full) and not Path(path, "preprocessor_config.json").is_file():
            log.warning("%s has no preprocessor_config.json: its media cannot be prepared, text only", path)
        elif is_multimodal(full):
            prompts = MediaPrompts(**info.get("media_prompts", {})) if prompt is None else prompt.media()
            limits = media_limits or MediaLimits(**info.get("media_limits", {}))
            media = media_builder(full)(path, tokenizer, full.config, prompts, limits)
        return cls(
            tower,
            tokenizer,
            template,
            pooling=pooling or info.get("pooling", "last"),
            max_length=max_length or info.get("max_length"),
            max_text_tokens=max_text_tokens or info.get("max_text_tokens", 300),
            bf16=bf16,
            media=media,
            full=full if media is not None else None,
        )

    def save(self, folder: str | Path) -> Path:
        """A transformers folder plus sentence-transformers' modules (Transformer → Pooling → Normalize); the
        prompt template lives in the tokenizer's post-processor, the query/document prompts in ST's prompts."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.media is not None:  # the whole model in its released layout, loadable by its processor too
            self.full.save_pretrained(folder)
            self.tokenizer.save_pretrained(folder)
            self.media.save(folder)
            (folder / EMBEDDER_FILE).write_text(json.dumps(self.config_dict(), indent=1))
            return folder
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        (folder / EMBEDDER_FILE).write_text(json.dumps(self.config_dict(), indent=1))
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ]
        (folder / "modules.json").write_text(json.dumps(modules, indent=1))
        (folder / "sentence_bert_config.json").write_text(
            json.dumps(
                {
                    "max_seq_length": self.max_length or self.max_text_tokens + self.template.overhead,
                    "do_lower_case": False,
                }
            )  # fmt: skip
        )
        pooling = {"word_embedding_dimension": self.dim, "pooling_mode_lasttoken": self.pooling == "last",
                   "pooling_mode_mean_tokens": self.pooling == "mean", "include_prompt": True}  # fmt: skip
        (folder / "1_Pooling").mkdir(exist_ok=True)
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=1))
        (folder / "2_Normalize").mkdir(exist_ok=True)
        st_config = {
            "prompts": dict(self.template.prompts),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        }
        (folder / "config_sentence_transformers.json").write_text(json.dumps(st_config, indent=1))
        return folder

    def config_dict(self) -> dict:
        media = (
            {"media_prompts": asdict(self.media.prompts), "media_limits": asdict(self.media.limits)}
            if self.media
            else {}
        )
        return {"pooling": self.pooling, "max_length": self.max_length, "max_text_tokens": self.max_text_tokens,
                **asdict(self.template), **media}  # fmt: skip

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dim(self) -> int:
        return int(_text_config(self.model).hidden_size)

    # ---- tokenisation ------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str], prompt_name: str | None = None, warn: bool = True) -> list[list[int]]:
        """Token ids per text, template included, exactly as tokenising the whole rendered template: each text
        (after its query/document prompt) is first cut to ``max_text_tokens`` tokens and decoded back, as the
        official MTEB path does; a warning names truncated texts unless ``warn`` is off (training batches
        would repeat it every step)."""
        if isinstance(texts, str):
            raise DataError("encode() takes a list of texts; wrap a single text in a list")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError(f"text {i} is a {type(text).__name__}, not a string")
        full, cut = self._cut_texts(texts, self._prompt(prompt_name))
        if not full:
            return []
        rows = self.template.ids(self.tokenizer, full)
        if self.max_length is not None:
            rows = self._cap(rows, full, cut)
        if warn and cut:
            first = min(cut)
            log.warning(
                "%d text(s) longer than %d tokens were truncated (first: text %d, %d characters)",
                len(cut), self.max_text_tokens, first, len(texts[first]),
            )  # fmt: skip
        return rows

    def _cut_texts(self, texts: Sequence[str], prompt: str) -> tuple[list[str], set[int]]:
        """``prompt + text`` cut to ``max_text_tokens`` tokens (decoded back), and the indices that were cut."""
        # a text far beyond the limit is clipped in characters first (a 100k-character text would otherwise
        # be tokenised whole only to be cut); tokens average well under 8 characters
        limit = 8 * self.max_text_tokens
        full = [prompt + t[:limit] for t in texts]
        if not full:
            return [], set()
        pieces = self.tokenizer(full, add_special_tokens=False)["input_ids"]
        cut = {i for i, ids in enumerate(pieces) if len(ids) > self.max_text_tokens} | {
            i for i, t in enumerate(texts) if len(t) > limit
        }
        full = [self.tokenizer.decode(ids[: self.max_text_tokens]) if i in cut else t for i, (t, ids) in
                enumerate(zip(full, pieces))]  # fmt: skip
        return full, cut

    def _cap(self, rows: list[list[int]], texts: list[str], cut: set[int]) -> list[list[int]]:
        """Shorten the texts of rows over ``max_length`` (template included) until they fit."""
        for i, row in enumerate(rows):
            while len(row) > self.max_length:
                ids = self.tokenizer(texts[i], add_special_tokens=False)["input_ids"]
                if not ids:
                    break
                texts[i] = self.tokenizer.decode(ids[: max(0, len(ids) - (len(row) - self.max_length))])
                row = rows[i] = self.template.ids(self.tokenizer, [texts[i]])[0]
                cut.add(i)
        return rows

    def _prompt(self, prompt_name: str | None) -> str:
        if prompt_name is None:
            return ""
        if prompt_name not in self.template.prompts:
            raise ConfigError(f"prompt_name: unknown '{prompt_name}'; valid: {', '.join(self.template.prompts)}")
        return self.template.prompts[prompt_name]

    # ---- forward -----------------------------------------------------------------------------------
    def embed_ids(self, rows: Sequence[Sequence[int]], layer: int | None = None, group_size: int = 16) -> torch.Tensor:
        """Pooled (unnormalised) hidden states ``[B, H]`` of token rows; differentiable.

        Rows run packed end to end in one forward (``replab.embed.packing``: no padding FLOPs); a model whose
        attention cannot be packed runs length-sorted padded groups of ``group_size`` rows instead."""
        shared = _common_prefix(rows) if self.share_prefix and self.pooling == "last" and layer is None else 0
        prefix = self._prefix_states(list(rows[0][:shared])) if shared else None
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        tails = [rows[i][shared:] for i in order]
        pooled = self._embed_packed(tails, shared, prefix, layer) if self.packed else None
        if pooled is None:
            parts = [self._embed_group(tails[start : start + group_size], shared, prefix, layer)
                     for start in range(0, len(rows), group_size)]  # fmt: skip
            pooled = torch.cat(parts, dim=-2)
        inverse = torch.empty(len(rows), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(rows))
        return pooled.index_select(-2, inverse.to(pooled.device))

    def _embed_packed(self, tails: list, shared: int, prefix, layer: int | None) -> torch.Tensor | None:
        """Pooled states of length-sorted rows run as one packed sequence; None (and packing off from then
        on) where the model's attention layers bypassed the packed layout."""
        ids, positions, layout = pack_rows(tails, shared, self.device)
        kwargs = {_cache_arg(self.model): self._expand_cache(prefix, 1)} if prefix is not None else {}
        out = self.model(input_ids=ids, position_ids=positions, output_hidden_states=layer is not None,
                         replab_packed=layout, **kwargs)  # fmt: skip
        if layout.calls == 0:
            log.warning("%s ignores transformers' attention interface: rows run padded", type(self.model).__name__)
            self.packed = False
            return None
        if layer is None:
            hidden = out.last_hidden_state[0]
        elif layer == ALL_LAYERS:  # every layer from one forward: [layers + 1, T, H]
            hidden = torch.stack(out.hidden_states)[:, 0]
        else:
            hidden = out.hidden_states[layer][0]
        if self.pooling == "last":
            return hidden[..., layout.ends, :]
        lengths = torch.tensor(layout.lengths, device=hidden.device)
        row_of = torch.repeat_interleave(torch.arange(len(tails), device=hidden.device), lengths)
        sums = hidden.new_zeros((*hidden.shape[:-2], len(tails), hidden.shape[-1])).index_add_(-2, row_of, hidden)
        return sums / lengths.unsqueeze(-1).to(hidden.dtype)

    def _embed_group(self, tails: list, shared: int, prefix, layer: int | None) -> torch.Tensor:
        pad, device = self.tokenizer.pad_token_id, self.device
        width = max(len(t) for t in tails)
        ids = torch.full((len(tails), width), pad, dtype=torch.long)
        mask = torch.zeros((len(tails), width), dtype=torch.long)
        for i, t in enumerate(tails):  # left padding: the last real token sits at the last position
            ids[i, width - len(t) :] = torch.tensor(list(t))
            mask[i, width - len(t) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (shared + mask.cumsum(1) - 1).clamp(min=shared)
        kwargs = {}
        if prefix is not None:
            kwargs[_cache_arg(self.model)] = self._expand_cache(prefix, len(tails))
            mask = torch.cat([torch.ones(len(tails), shared, dtype=mask.dtype, device=device), mask], dim=1)
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=layer is not None, **kwargs
        )
        if layer is None:
            hidden = out.last_hidden_state
        elif layer == ALL_LAYERS:  # every layer from one forward: [layers + 1, B, T, H]
            hidden = torch.stack(out.hidden_states)
        else:
            hidden = out.hidden_states[layer]
        if self.pooling == "last":
            return hidden[..., -1, :]
        tail_mask = mask[:, shared:].unsqueeze(-1).to(hidden.dtype)
        return (hidden * tail_mask).sum(-2) / tail_mask.sum(-2)

    def _prefix_states(self, prefix: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys and values of the shared prefix, computed once (batch 1; differentiable)."""
        from transformers import DynamicCache

        # filled in place: works even where gradient checkpointing switches use_cache off
        cache = DynamicCache(config=self.model.config)
        self.model(input_ids=torch.tensor([prefix], device=self.device), **{_cache_arg(self.model): cache})
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _expand_cache(self, states: list[tuple[torch.Tensor, torch.Tensor]], batch: int):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        for index, (keys, values) in enumerate(states):
            cache.update(keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1), index)
        return cache

    # ---- the sentence-transformers-shaped API ------------------------------------------------------
    @torch.inference_mode()
    def encode(
        self,
        inputs: Sequence,
        batch_size: int = 32,
        normalize_embeddings: bool = True,
        prompt_name: str | None = None,
        show_progress_bar: bool | None = None,
        layer: int | None = None,
    ) -> np.ndarray:
        """``[len(inputs), dim]`` float32 embeddings, in input order (batches are length-sorted, one modality
        per batch); ``layer=ALL_LAYERS`` gives ``[layers + 1, len(inputs), dim]`` from one forward per batch.
        An input is a text, an image (PIL, ``HWC`` uint8 array, file), audio (``{"array", "sampling_rate"}``
        or a file), a video (file or list of frames) or ``{"text": ..., "image": ...}`` (``modalities``)."""
        rows = self.rows(inputs, prompt_name)
        groups: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(row.kind if isinstance(row, MediaRow) else "text", []).append(i)
        batches = []
        for index in groups.values():
            index = sorted(index, key=lambda i: -_length(rows[i]))
            batches += [index[start : start + batch_size] for start in range(0, len(index), batch_size)]
        depth = _text_config(self.model).num_hidden_layers + 1 if layer == ALL_LAYERS else None
        out = torch.empty((*([depth] if depth else []), len(rows), self.dim), dtype=torch.float32)
        if show_progress_bar is None:  # on for long inputs, as sentence-transformers does
            show_progress_bar = len(rows) > 8 * batch_size
        was_training = self.model.training
        self.model.eval()
        use_bf16 = bf16_supported(self.device) if self.bf16 is None else self.bf16
        bar = progress_bar(len(rows), "encode", unit="input") if show_progress_bar else None

        def batch(index: list[int]) -> None:  # batches side by side on the CPU (core.inference.in_parallel)
            with torch.inference_mode(), autocast(self.device, use_bf16):
                part = [rows[i] for i in index]
                media = isinstance(part[0], MediaRow)
                pooled = (self.embed_media(part, layer) if media else self.embed_ids(part, layer, len(part))).float()
                if normalize_embeddings:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[..., index, :] = pooled.cpu()
            if bar is not None:
                bar.update(len(index))

        in_parallel([lambda index=index: batch(index) for index in batches], self.device)
        if bar is not None:
            bar.close()
        self.model.train(was_training)
        return out.numpy()

    @property
    def modalities(self) -> tuple[str, ...]:
        """What this model embeds: ``("text",)``, or text and the media of its towers."""
        return self.media.modalities if self.media is not None else ("text",)

    def rows(self, inputs: Sequence, prompt_name: str | None = None, warn: bool = True) -> list:
        """Token rows (texts) and ``MediaRow``s (anything with media), one per input, in order."""
        if isinstance(inputs, (str, dict)) or not isinstance(inputs, Sequence):
            raise DataError("encode() takes a list of inputs; wrap a single input in a list")
        if all(isinstance(x, str) and media_kind(x) is None for x in inputs):
            return self.tokenize(inputs, prompt_name, warn)
        limits = self.media.limits if self.media is not None else MediaLimits()
        items = [read_item(x, i, limits.max_frames, limits.fps) for i, x in enumerate(inputs)]
        for i, item in enumerate(items):
            self._check_modalities(item, i)
        texts = [i for i, item in enumerate(items) if item.kind == "text"]
        rows: list = [None] * len(items)
        for i, row in zip(texts, self.tokenize([items[i].text for i in texts], prompt_name, warn)):
            rows[i] = row
        fused = [i for i, item in enumerate(items) if item.kind == "text+image"]
        cut = dict(zip(fused, self._cut_texts([items[i].text for i in fused], self._prompt(prompt_name))[0]))
        for i, item in enumerate(items):
            if rows[i] is None:
                try:
                    rows[i] = self.media.row(item, cut.get(i))
                except DataError as exc:
                    raise DataError(f"item {i}: {exc}") from None
        return rows

    def _check_modalities(self, item: Item, index: int) -> None:
        missing = [kind for kind in item.kind.split("+") if kind not in self.modalities]
        if missing:
            raise DataError(f"item {index}: a {missing[0]} input, but this model embeds only "
                            f"{', '.join(self.modalities)}")  # fmt: skip
        if "+" in item.kind and item.kind != "text+image":
            raise DataError(f"item {index}: fused inputs are text + image (LCO-Embedding's), not {item.kind}")

    def embed_rows(self, rows: Sequence, layer: int | None = None) -> torch.Tensor:
        """Pooled (unnormalised) states ``[B, H]`` of rows from ``rows()``: token rows through ``embed_ids``,
        media rows through ``embed_media``, in order; differentiable (training batches mix them)."""
        media = [i for i, row in enumerate(rows) if isinstance(row, MediaRow)]
        if not media:
            return self.embed_ids(rows, layer)
        texts = [i for i, row in enumerate(rows) if not isinstance(row, MediaRow)]
        parts, order = [], []
        if texts:
            parts.append(self.embed_ids([rows[i] for i in texts], layer))
            order += texts
        parts.append(self.embed_media([rows[i] for i in media], layer))
        order += media
        inverse = torch.empty(len(rows), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(rows))
        return torch.cat(parts, dim=-2).index_select(-2, inverse.to(parts[0].device))

    def embed_media(self, rows: Sequence[MediaRow], layer: int | None = None) -> torch.Tensor:
        """Pooled (unnormalised) states ``[B, H]`` of media rows: the whole model on a left-padded batch, as
        the official recipe runs it; differentiable."""
        from replab.embed.qwen_media import batch_inputs

        inputs = batch_inputs(rows, self.tokenizer.pad_token_id, self.full.config, self.device)
        extra = (
            self._media_prefix(rows, inputs) if self.share_prefix and self.pooling == "last" and layer is None else {}
        )
        out = self.full.model(**inputs, **extra, output_hidden_states=layer is not None, use_cache=False)
        if layer is None:
            hidden = out.last_hidden_state
        elif layer == ALL_LAYERS:
            hidden = torch.stack(out.hidden_states)
        else:
            hidden = out.hidden_states[layer]
        if self.pooling == "last":
            return hidden[..., -1, :]
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(-2) / mask.sum(-2)

    def _media_prefix(self, rows: Sequence[MediaRow], inputs: dict[str, torch.Tensor]) -> dict:
        """The chat prefix every row shares, run once: its keys/values broadcast to the batch, the rows' own
        tokens keeping the positions the whole rows would have (exact)."""
        from replab.embed.qwen_media import drop_prefix, rope_positions, shared_prefix

        config = self.full.config
        media = {config.image_token_id, getattr(config, "video_token_id", -1), getattr(config, "audio_token_id", -1)}
        shared = shared_prefix(list(rows), media)
        if shared == 0:
            return {}
        positions = drop_prefix(inputs, rope_positions(self.full.model, inputs), shared)
        batch = len(rows)
        ones = torch.ones(batch, shared, dtype=inputs["attention_mask"].dtype, device=self.device)
        inputs["attention_mask"] = torch.cat([ones, inputs["attention_mask"]], dim=1)
        cache = self._expand_cache(self._prefix_states(list(rows[0].ids[:shared])), batch)
        return {"position_ids": positions, _cache_arg(self.full.model): cache}

    def encode_query(self, texts: Sequence[str], **kwargs) -> np.ndarray:
        return self.encode(texts, prompt_name="query", **kwargs)

    def encode_document(self, texts: Sequence[str], **kwargs) -> np.ndarray:
        return self.encode(texts, prompt_name="document", **kwargs)

    @staticmethod
    def similarity(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Cosine similarity matrix ``[len(a), len(b)]``."""
        a, b = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
        return torch.nn.functional.normalize(a.float(), dim=-1) @ torch.nn.functional.normalize(b.float(), dim=-1).T


def _text_config(model: torch.nn.Module):
    """The language model's own config (older transformers hand a VLM's tower the whole model's config)."""
    config = model.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def _length(row) -> int:
    return len(row.ids) if isinstance(row, MediaRow) else len(row)


def _quietly(load, *args, **kwargs):
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return load(*args, **kwargs)
    finally:
        hf_logging.set_verbosity(level)


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix all rows share, leaving every row at least one token of its own."""
    shortest = min(len(r) for r in rows)
    n = 0
    first = rows[0]
    while n < shortest - 1 and all(r[n] == first[n] for r in rows):
        n += 1
    return n


def _cache_arg(model: torch.nn.Module) -> str:
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # under peft
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"
