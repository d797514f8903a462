"""A small multimodal LM built offline from replab's own parts, LLaVA-style: the Fashion-MNIST ``local-vit``
(7×7 patch tokens × 128) as the vision tower, an MLP projector, SmolLM2-135M-Instruct as the language model.

It is a transformers ``PreTrainedModel`` laid out as the Qwen VLMs are (``model.visual``,
``model.projector``, ``model.language_model``, ``lm_head``), saved with a tokenizer that has an ``<image>``
placeholder and a chat template that places 49 of them for an image, so the omnimodal ``Embedder`` loads
it as any other multimodal base and embeds images with LCO-Embedding's image prompt.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import LlamaConfig, LlamaModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from replab.core.vit import LocalViT, LocalViTConfig

MODEL_TYPE = "replab_fmnist_vlm"
IMAGE_TOKEN = "<image>"
IMAGE_SIZE = 28
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part %}<image>{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)  # no default system turn: SmolLM2's would cost 20 tokens per row for nothing here


class FmnistVLMConfig(PretrainedConfig):
    model_type = MODEL_TYPE

    def __init__(self, vision_config: dict | None = None, text_config: dict | None = None,
                 image_token_id: int = 0, projector_hidden: int = 1024, **kwargs) -> None:  # fmt: skip
        self.vision_config = dict(vision_config or {})
        text = text_config.to_dict() if isinstance(text_config, PretrainedConfig) else text_config
        self.text_config = dict(text or {})
        self.image_token_id = image_token_id
        self.projector_hidden = projector_hidden
        super().__init__(**kwargs)

    def get_text_config(self, *args, **kwargs) -> LlamaConfig:
        return LlamaConfig(**self.text_config)


class FmnistVLMModel(nn.Module):
    """Vision tower → projector → image placeholders of the language model's input embeddings."""

    def __init__(self, config: FmnistVLMConfig) -> None:
        super().__init__()
        self.config = config
        self.visual = LocalViT(LocalViTConfig(**config.vision_config))
        width = config.get_text_config().hidden_size
        self.projector = nn.Sequential(nn.Linear(self.visual.config.dim, config.projector_hidden), nn.GELU(),
                                       nn.Linear(config.projector_hidden, width))  # fmt: skip
        self.language_model = LlamaModel(config.get_text_config())

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``[n, 1, 28, 28]`` in [0, 1] → ``[n · 49, width]`` projected patch tokens (CLS dropped)."""
        tokens = self.visual(pixel_values.to(self.projector[0].weight.dtype))[:, 1:]
        return self.projector(tokens).flatten(0, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                pixel_values: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                cache=None, **kwargs) -> BaseModelOutputWithPast:  # fmt: skip
        embeds = self.language_model.embed_tokens(input_ids)
        if pixel_values is not None:
            mask = (input_ids == self.config.image_token_id).unsqueeze(-1)
            features = self.image_features(pixel_values).to(embeds.dtype)
            if int(mask.sum()) != features.numel() // features.shape[-1]:
                raise ValueError(f"{int(mask.sum())} image placeholders for {features.shape[0]} image tokens")
            embeds = embeds.masked_scatter(mask, features)
        if position_ids is None and attention_mask is not None:  # left padding: each row counts from 0
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -input_ids.shape[1] :]
        if cache is not None:
            kwargs[_cache_name(self.language_model)] = cache
        return self.language_model(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
                                   **kwargs)  # fmt: skip


def _cache_name(model: nn.Module) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class FmnistVLM(PreTrainedModel):
    """The small VLM with its LM head (captioning loss for generative pre-training)."""

    config: FmnistVLMConfig
    config_class = FmnistVLMConfig
    base_model_prefix = "model"
    _supports_sdpa = True
    _supports_attention_backend = True

    def __init__(self, config: FmnistVLMConfig) -> None:
        super().__init__(config)
        self.model = FmnistVLMModel(config)
        self.lm_head = nn.Linear(config.get_text_config().hidden_size, config.get_text_config().vocab_size, bias=False)
        self.post_init()

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> FmnistVLM:
        """transformers builds the model on the meta device, where the vision tower's fixed sin-cos positions
        (a non-persistent buffer) are never computed: they are put back here."""
        from replab.core.layers import sincos_2d

        model = super().from_pretrained(*args, **kwargs)
        visual = model.model.visual
        visual.pos = sincos_2d(visual.config.dim, visual.grid)[None].to(visual.patch_embed.weight)
        return model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                pixel_values: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **kwargs) -> CausalLMOutputWithPast:  # fmt: skip
        hidden = self.model(input_ids, attention_mask, pixel_values, **kwargs).last_hidden_state
        logits = self.lm_head(hidden)
        loss = None
        if labels is not None:  # next-token loss where labels are not -100 (the caption only)
            loss = nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                               ignore_index=-100)  # fmt: skip
        return CausalLMOutputWithPast(loss=loss, logits=logits)


def register() -> None:
    from transformers import AutoConfig

    try:
        AutoConfig.register(MODEL_TYPE, FmnistVLMConfig)
    except ValueError:  # already registered
        pass


def assemble(lm_folder: str | Path, encoder_folder: str | Path, projector_hidden: int = 1024, seed: int = 0):
    """(model, tokenizer): the language model and tokenizer of ``lm_folder`` (a Llama-family causal LM, e.g.
    SmolLM2) with an ``<image>`` token added, the ``local-vit`` of ``encoder_folder``, a fresh projector."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from replab.core.vit import read_local_vit

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(lm_folder))
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    tokenizer.chat_template = CHAT_TEMPLATE
    lm = AutoModelForCausalLM.from_pretrained(str(lm_folder), dtype=torch.float32)
    lm.resize_token_embeddings(len(tokenizer))
    vision = read_local_vit(encoder_folder)
    text_config = lm.config.to_dict()
    text_config["tie_word_embeddings"] = False
    config = FmnistVLMConfig(vision_config=vision.config.__dict__, text_config=text_config,
                             image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                             projector_hidden=projector_hidden, architectures=["FmnistVLM"])  # fmt: skip
    model = FmnistVLM(config)
    model.model.visual.load_state_dict(vision.state_dict())
    model.model.language_model.load_state_dict(lm.model.state_dict())
    model.lm_head.weight.data.copy_(lm.get_output_embeddings().weight.data)
    return model.eval(), tokenizer


def save_vlm(model: FmnistVLM, tokenizer, folder: str | Path) -> Path:
    """The released-style folder the ``Embedder`` loads: weights, config, tokenizer, chat template, and the
    image preprocessing (28×28 grey, [0, 1])."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    pre = {"image_processor_type": "replab-fmnist", "image_size": IMAGE_SIZE, "channels": 1}
    (folder / "preprocessor_config.json").write_text(json.dumps(pre, indent=1))
    return folder


class FmnistMedia:
    """Items → ``MediaRow``s for the small VLM: the image as 28×28 grey in [0, 1], 49 placeholders."""

    def __init__(self, folder: str, tokenizer, config, prompts, limits) -> None:
        from replab.embed.qwen_media import MEDIA_FILES

        self.family, self.tokenizer, self.config = "plain", tokenizer, config
        self.prompts, self.limits = prompts, limits
        self.files = {name: Path(folder, name).read_text() for name in MEDIA_FILES if Path(folder, name).is_file()}
        self.token = {"image": IMAGE_TOKEN}
        grid = config.vision_config["image_size"] // config.vision_config["patch_size"]
        self.tokens_per_image = grid * grid

    modalities = ("text", "image")

    def save(self, folder: Path) -> None:
        for name, text in self.files.items():
            (folder / name).write_text(text)

    def row(self, item, text: str | None = None):
        from replab.embed.qwen_media import QwenMedia

        return QwenMedia.row(self, item, text)

    def messages(self, item, text: str | None) -> list[dict]:
        from replab.embed.qwen_media import QwenMedia

        return QwenMedia.messages(self, item, text)

    def image_tokens(self, tensors: dict[str, torch.Tensor]) -> int:
        return self.tokens_per_image

    def image(self, image) -> dict[str, torch.Tensor]:
        import numpy as np

        size = self.config.vision_config["image_size"]
        grey = image.convert("L")
        if grey.size != (size, size):
            grey = grey.resize((size, size))
        return {"pixel_values": torch.from_numpy(np.asarray(grey, dtype=np.float32) / 255.0)[None, None]}
