"""A decoder-only GPT in one sitting (nanoGPT's shape, written afresh).

Shapes in comments: B batch, T sequence length, C n_embd, H heads, D = C // H head size,
V vocabulary size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from trainer.head_loss import linear_cross_entropy


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    seq_len: int
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.0
    position: str = "learned"
    """learned: a position embedding table (GPT-2); rope: rotary embeddings of q and k."""


def rotary_tables(seq_len: int, head_size: int, base: float = 10000.0) -> torch.Tensor:
    """cos and sin of position * frequency, stacked: (2, T, D/2)."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)  # (T, D/2)
    return torch.stack((angles.cos(), angles.sin()))


def apply_rotary(x: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x[..., :D/2], x[..., D/2:]) of x (B, H, T, D) by their position's angle;
    ``tables`` is (2, T, D/2), or (2, B, 1, T, D/2) when positions differ per row."""
    cos, sin = tables[0].to(x.dtype), tables[1].to(x.dtype)  # broadcast over (B, H, T, D/2)
    x1, x2 = x.chunk(2, dim=-1)  # (B, H, T, D/2) each
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


ATTENTIONS = ("auto", "sdpa", "flex")


def use_flex(attention: str, device: torch.device) -> bool:
    """Whether document masking runs through FlexAttention: ``auto`` on CUDA (a block-sparse
    kernel that skips the masked blocks; SDPA with a dense mask cannot use flash attention), SDPA
    with a dense block-diagonal mask elsewhere (FlexAttention on CPU is a reference loop)."""
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
    return attention == "flex" or (attention == "auto" and device.type == "cuda")


_FLEX: dict[str, object] = {}


def _flex_attention():
    """torch's flex_attention, compiled once on CUDA (eager it materialises the scores)."""
    if "fn" not in _FLEX:
        from torch.nn.attention.flex_attention import flex_attention

        _FLEX["fn"] = flex_attention
        _FLEX["cuda"] = torch.compile(flex_attention, dynamic=False)
    return _FLEX


def document_block_mask(segment: torch.Tensor):
    """A FlexAttention BlockMask: causal and within the same document (``segment`` (B, T): which
    document of its row each token is in)."""
    from torch.nn.attention.flex_attention import create_block_mask

    B, T = segment.shape

    def same_document_causal(b, h, q, kv):
        return (segment[b, q] == segment[b, kv]) & (q >= kv)

    return create_block_mask(same_document_causal, B, None, T, T, device=segment.device)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.proj.residual = True  # scaled down at init: see GPT._init_weights
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, rotary: torch.Tensor | None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``mask`` (B, 1, T, T), True where a query may attend a key; None: plain causal."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # (B, T, C) each
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if rotary is not None:  # (B, H, T, D)
            q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
        if mask is not None and not isinstance(mask, torch.Tensor):  # a FlexAttention BlockMask
            flex = _flex_attention()
            y = flex["cuda" if q.is_cuda else "fn"](q, k, v, block_mask=mask)  # type: ignore[operator]
        else:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask,
                is_causal=mask is None,
                dropout_p=self.dropout if self.training else 0.0,
            )  # (B, H, T, D)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)
        self.proj.residual = True
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))  # (B, T, 4C) inside


class Block(nn.Module):
    """Pre-norm: the residual stream itself is never normalised, which keeps deep stacks stable."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=False)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=False)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, rotary: torch.Tensor | None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), rotary, mask)
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if config.position not in ("learned", "rope"):
            raise ValueError(f"position must be learned or rope, got {config.position!r}")
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.seq_len, config.n_embd) if config.position == "learned" else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=False)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Tying saves V*C parameters, most of a small model, and helps at this scale.
        self.tok_emb.weight = self.lm_head.weight
        rotary = (
            rotary_tables(config.seq_len, config.n_embd // config.n_head)
            if config.position == "rope"
            else None
        )
        # Not persistent: derived from the config, so checkpoints stay free of it.
        self.register_buffer("rotary", rotary, persistent=False)
        self.checkpoint_blocks = False
        """Recompute each block's activations in the backward pass (activation checkpointing)."""
        self.attention = "auto"
        """How document masking attends: ``sdpa`` (a dense block-diagonal causal mask), ``flex``
        (FlexAttention's block-sparse mask) or ``auto`` (flex on CUDA): ``use_flex``."""
        self.fused_head_loss = True
        """Training in fp32 on a CPU: the LM head and the loss by row chunks (``head_loss``), the
        logits never whole; forward then returns no logits. Off: the plain path, always."""
        self.doc_bos: int | None = None
        self.doc_at_end = False
        """With doc_bos: the token ends each document (Megatron's EOD) instead of starting it."""
        """Document masking: with the id of the token that starts every document, attention
        stays inside the current document of a packed sequence and positions restart at each
        document (a window's first tokens, the tail of an earlier document, are one too)."""
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        # GPT-2: N(0, 0.02), and projections into the residual stream scaled by 1/sqrt(2 * layers)
        # so the stream's variance does not grow with depth.
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "residual", False):
                std /= math.sqrt(2 * self.config.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding) and module is not self.tok_emb:
            # The tied token embedding was already initialised as lm_head.
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, exclude_embeddings: bool = False) -> int:
        """Parameters, each tied tensor once; optionally without the position table.

        The token embedding is counted either way: tied to the LM head, it does compute work.
        """
        n = sum(p.numel() for p in self.parameters())
        if exclude_embeddings and self.pos_emb is not None:
            n -= self.pos_emb.weight.numel()
        return n

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Logits (B, T, V) for token ids idx (B, T); the mean cross-entropy when targets given
        (then no logits while training by ``fused_head_loss``)."""
        B, T = idx.shape
        if T > self.config.seq_len:
            raise ValueError(f"sequence of {T} tokens, the model's seq_len is {self.config.seq_len}")
        x = self.tok_emb(idx)  # (B, T, C)
        t = torch.arange(T, device=idx.device)
        mask, rotary = None, None
        if self.doc_bos is None:
            positions: torch.Tensor = t  # (T,)
            if self.rotary is not None:
                rotary = self.rotary[:, :T]  # (2, T, D/2)
        else:
            starts = idx == self.doc_bos  # (B, T)
            if self.doc_at_end:  # a document starts just after the token
                starts = F.pad(starts[:, :-1], (1, 0), value=False)
            segment = starts.cumsum(dim=1)  # which document of the row each token is in
            if use_flex(self.attention, idx.device) and not (self.training and self.config.dropout):
                mask = document_block_mask(segment)  # FlexAttention has no dropout
            else:
                causal = t[:, None] >= t[None, :]  # (T, T)
                mask = ((segment[:, :, None] == segment[:, None, :]) & causal).unsqueeze(1)  # (B, 1, T, T)
            first = torch.where(starts, t, torch.zeros_like(t)).cummax(dim=1).values  # (B, T)
            positions = t - first  # (B, T): 0 at each document start
            if self.rotary is not None:
                rotary = self.rotary[:, positions].unsqueeze(2)  # (2, B, 1, T, D/2)
        if self.pos_emb is not None:
            x = x + self.pos_emb(positions)  # (T, C) or (B, T, C)
        x = self.drop(x)
        for block in self.blocks:
            if self.checkpoint_blocks and self.training:
                x = checkpoint(block, x, rotary, mask, use_reentrant=False)
            else:
                x = block(x, rotary, mask)
        x = self.ln_f(x)
        if targets is not None and self._head_loss_fused(x):
            return None, linear_cross_entropy(x.view(B * T, -1), self.lm_head.weight, targets.reshape(B * T))
        logits = self.lm_head(x)  # (B, T, V)
        if targets is None:
            return logits, None
        # Softmax in fp32: under bf16 autocast the logits are bf16, too coarse for a loss.
        loss = F.cross_entropy(logits.float().view(B * T, -1), targets.reshape(B * T))
        return logits, loss

    def _head_loss_fused(self, x: torch.Tensor) -> bool:
        """Whether the head and loss go by row chunks: gradients wanted, fp32 on a CPU (autocast
        keeps the plain path), and the head a plain Linear (not LoRA's)."""
        return (
            self.fused_head_loss
            and torch.is_grad_enabled()
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
            and type(self.lm_head) is nn.Linear
        )

    def configure_optimizer(
        self,
        lr: float,
        weight_decay: float,
        betas: tuple[float, float],
        device_type: str = "cpu",
    ) -> torch.optim.AdamW:
        """AdamW that decays matrices and embeddings (2-D) but not norm weights or biases."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        # The fused kernel is a single launch per step on CUDA; elsewhere the default is best.
        fused = True if device_type == "cuda" else None
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)
