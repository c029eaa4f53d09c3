"""The streaming editor: frames in, edited frames out, chunk after chunk.

Per chunk of video frames (the first has 1 + 8 (n0 - 1) frames, later ones 24): fit to the model resolution,
encode with the causal VAE (its stream cache carries the temporal context), draw noise, run the streaming
sampler with the DiT's stream state, decode with the causal decoder, optionally redraw the edit as local colour
maps of the source (:mod:`sana_streaming.engine.guide`; ``guide``, off unless the model's folder turns it on),
filter each frame in time along the source's motion (:mod:`sana_streaming.engine.stabilize`; ``stabilize = 0``
turns it off), emit the frames in order.
Prompt changes take effect at the next chunk, optionally blended over a few chunks.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from sana_streaming.engine.guide import GuidedRefiner
from sana_streaming.engine.live import LiveReader
from sana_streaming.engine.sampler import SamplerConfig, StreamingSampler
from sana_streaming.engine.schedule import PromptSchedule
from sana_streaming.engine.stabilize import TemporalStabilizer
from sana_streaming.engine.stats import ChunkTiming, EditorStats, StageTimer
from sana_streaming.io.frames import VideoFrame, to_uint8_rgb
from sana_streaming.io.transform import FrameRateResampler, fit_frame, side_by_side
from sana_streaming.models.state import StreamBatch, StreamState
from sana_streaming.models.transformer import SanaStreamingTransformer, TextCondition
from sana_streaming.text.base import TextEncoder
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.layers import StreamCache


@dataclass(frozen=True)
class EditorConfig:
    """Settings of a :class:`StreamingEditor`.

    Attributes:
        resolution: (width, height) the model sees; multiples of the VAE's spatial compression.
        fps: frame rate of the edit (the source is resampled to it; official: 16).
        first_chunk_latents: latent frames of the first chunk (the softmax sink); 5 = 33 video frames, as the
            official 969-frame setting.
        sampler: steps, cache window, efficient cache.
        fit: "crop" (cover and centre-crop, official) or "letterbox".
        seed: seed of the noise (one draw per chunk, in order).
        transition_chunks: default number of chunks over which a new prompt's embedding is blended in.
        side_by_side: emit (source | edit) frames of twice the width.
        max_lag_chunks: live sources only: at most this many chunks of input wait; older frames are dropped.
        stabilize: strength of the temporal filter on the edit, in [0, 1) (0: the model's frames unchanged);
            see :class:`~sana_streaming.engine.stabilize.TemporalStabilizer`.
        stabilize_tolerance: the filter's source-mismatch scale (0-255): larger follows the past further.
        guide: the source-guided refinement's window radius, a fraction of the frame's width (0: off), run
            before the temporal filter; see :class:`~sana_streaming.engine.guide.GuidedRefiner`. Off by default:
            it suits edits that are locally colour maps of the source (the default model's, whose folder turns it
            on: ``editor.json``), not edits that add or remove content.
        guide_eps: the refinement's ridge (0-255 scale, squared): larger gives flatter maps.
        guide_steady: the refinement's maps filtered in time along the source's motion: the previous frame's
            largest weight, in [0, 1) (0: off), with ``stabilize_tolerance``.
        flow_preset: the DIS preset of the source's flow that the filter and the steady maps follow
            (:data:`~sana_streaming.engine.stabilize.FLOW_PRESETS`).
    """

    resolution: tuple[int, int] = (384, 224)
    fps: float = 16.0
    first_chunk_latents: int = 5
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    fit: str = "crop"
    seed: int = 0
    transition_chunks: int = 0
    side_by_side: bool = False
    max_lag_chunks: int = 2
    stabilize: float = 0.8
    stabilize_tolerance: float = 20.0
    guide: float = 0.0
    guide_eps: float = 25.0
    guide_steady: float = 0.0
    flow_preset: str = "ultrafast"


class _PromptState:
    """The prompt of the next chunk, with an optional linear blend from the previous one."""

    def __init__(self) -> None:
        self.target: tuple[Tensor, Tensor] | None = None
        self.previous: tuple[Tensor, Tensor] | None = None
        self.steps = 0
        self.done = 0

    def set(self, features: tuple[Tensor, Tensor], transition_chunks: int) -> None:
        self.previous = self.current() if self.target is not None and transition_chunks > 0 else None
        self.target, self.steps, self.done = features, transition_chunks, 0

    @property
    def blending(self) -> bool:
        return self.previous is not None and self.done < self.steps

    def current(self) -> tuple[Tensor, Tensor]:
        """Features and mask for the next chunk: chunk k of a transition takes weight (k + 1) / steps."""
        if not self.blending:
            return self.target
        weight = (self.done + 1) / self.steps
        (f0, m0), (f1, m1) = self.previous, self.target
        return (1 - weight) * f0 + weight * f1, torch.maximum(m0, m1)

    def advance(self) -> None:
        self.done += 1


@dataclass
class _Chunk:
    """A chunk between its encoding and its decoding."""

    frames: list[VideoFrame]
    images: list[np.ndarray]
    source: Tensor
    noise: Tensor
    timer: StageTimer


class StreamingEditor:
    """Edits a video stream with a text prompt, chunk by chunk, with constant memory.

    Pull: ``for frame in editor.edit(source): ...``. Push (live): ``editor.push(frames)`` returns the frames
    ready so far; ``editor.flush()`` ends the stream. Outputs are :class:`VideoFrame` (uint8 RGB) in input order.
    """

    def __init__(
        self,
        model: SanaStreamingTransformer,
        vae: VideoAutoencoder,
        text_encoder: TextEncoder,
        config: EditorConfig | None = None,
    ) -> None:
        self.model, self.vae, self.text_encoder = model, vae, text_encoder
        self.config = config or EditorConfig()
        self.sampler = StreamingSampler(model, self.config.sampler)
        self.device = model.x_embedder.proj.weight.device
        self._check_parts()
        self._prompt = _PromptState()
        self._steady: TextCondition | None = None  # the embedded prompt, reused chunk after chunk
        self.prompt: str | None = None
        self.schedule: PromptSchedule | None = None
        self.reset()

    @classmethod
    def from_pretrained(
        cls,
        model: str = "tiny",
        *,
        vae: str | None = None,
        text_encoder: str | None = None,
        model_preset: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        precision: str = "bf16",
        compile: bool = False,
        cuda_graphs: bool = False,
        **config,
    ) -> StreamingEditor:
        """Build an editor from names: ``model`` is a preset (random weights), a folder written by save_pretrained
        or an official checkpoint; ``vae`` a preset, a diffusers-layout folder or a cached id such as
        "Lightricks/LTX-2"; ``text_encoder`` "minilm", "gemma", "gemma:PATH" or a folder. Both default to what
        the model needs. ``precision``, ``compile`` and ``cuda_graphs`` are :meth:`accelerate`'s. ``config``
        sets :class:`EditorConfig` fields (the resolution defaults to the VAE's; the rest to the model folder's
        ``editor.json``, where it has one, then to EditorConfig's).
        """
        from sana_streaming.engine import loading

        torch_device = loading.resolve_device(device)
        torch_dtype = loading.resolve_dtype(dtype, torch_device)
        dit = loading.load_model(model, preset=model_preset, device=torch_device, dtype=torch_dtype)
        autoencoder = loading.load_vae(
            loading.vae_spec_for(model, vae), dit.part, device=torch_device, dtype=torch_dtype
        )
        text = loading.load_text_encoder(text_encoder, dit.part, device=torch_device)
        for note in dit.notes + autoencoder.notes + text.notes:
            warnings.warn(note, stacklevel=2)
        config.setdefault("resolution", loading.default_resolution(autoencoder.part))
        config = loading.editor_defaults(model) | config
        editor = cls(dit.part, autoencoder.part, text.part, EditorConfig(**config))
        for note in editor.accelerate(precision, compile=compile, cuda_graphs=cuda_graphs):
            warnings.warn(note, stacklevel=2)
        return editor

    def accelerate(
        self, precision: str = "bf16", *, compile: bool = False, cuda_graphs: bool = False, gdn: str | None = None
    ) -> list[str]:
        """Make the DiT faster, in place: call once, before editing.

        Args:
            precision: a policy name ("bf16", "fp8", "paper") or a policy file from ``sana-streaming mpq-search``;
                layers it puts in NVFP4 run in FP8 (no NVFP4 kernels here).
            compile: ``torch.compile`` every block of the DiT (the first chunks of a stream then take longer: see
                :meth:`warmup`). The VAE stays eager (channels-last with compiled activations was 1.4x
                slower on the H200: benchmarks/NOTES.md).
            cuda_graphs: replay the steady-state streaming calls as CUDA graphs (CUDA only).
            gdn: the GDN implementation, "chunkwise" (PyTorch) or "triton" (the fused kernel, CUDA only);
                None keeps the model's.

        Returns:
            notes for the user (e.g. that FP8 is emulated on this device).
        """
        from sana_streaming.engine.compile import compile_model
        from sana_streaming.nn.gdn import set_gdn_backend
        from sana_streaming.ops.quant.policy import fp8_supported, get_policy, quantize_

        notes = []
        if cuda_graphs and self.device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA device")
        if gdn is not None:
            if gdn == "triton" and self.device.type != "cuda":
                raise ValueError("the Triton GDN kernel needs a CUDA device")
            set_gdn_backend(self.model, gdn)
        policy = get_policy(precision)
        if quantize_(self.model, policy, nvfp4="fp8") and not fp8_supported(self.device):
            notes.append(f"precision {policy.name!r}: this device has no FP8 units, so FP8 is emulated (slower)")
        if compile:
            compile_model(self.model)
        if cuda_graphs:
            from sana_streaming.engine.graphs import CudaGraphRunner

            self.sampler = StreamingSampler(CudaGraphRunner(self.model), self.config.sampler)
        return notes

    def warmup(self, chunks: int = 4) -> float:
        """Stream a short synthetic clip through the whole pipeline, then start afresh: compilation, CUDA graph
        capture and memory growth happen here, not in the first chunks of the real stream (what a live session
        wants). The prompt is kept. Returns the seconds it took."""
        if self._prompt.target is None and self.schedule is None:
            raise ValueError("no prompt: call set_prompt() before warmup()")
        start = time.perf_counter()
        self.reset()
        ratio = self.vae.cfg.temporal_compression
        chunk = ratio * self.config.sampler.chunk_frames
        count = self.frames_per_chunk + chunks * chunk + chunk - 1  # ends on a partial chunk: the last call too
        width, height = self.config.resolution
        images = np.random.default_rng(0).integers(0, 256, (count, height, width, 3), dtype=np.uint8)
        self.push(images)
        self.flush()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.reset()
        return time.perf_counter() - start

    def _check_parts(self) -> None:
        width, height = self.config.resolution
        ratio = self.vae.cfg.spatial_compression * max(self.model.cfg.patch_size)
        if width % ratio or height % ratio:
            raise ValueError(f"resolution {width}x{height}: width and height must be multiples of {ratio}")
        if self.vae.cfg.latent_channels != self.model.cfg.in_channels:
            raise ValueError(
                f"the VAE has {self.vae.cfg.latent_channels} latent channels, the model expects "
                f"{self.model.cfg.in_channels}"
            )
        if self.text_encoder.feature_dim != self.model.cfg.caption_channels:
            raise ValueError(
                f"the text encoder gives {self.text_encoder.feature_dim}-wide features, the model "
                f"expects {self.model.cfg.caption_channels}"
            )
        if self.config.first_chunk_latents < 1:
            raise ValueError("first_chunk_latents must be at least 1")

    # -- stream control -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Start a new stream (the prompt is kept)."""
        self.state: StreamState | None = None
        self._encoder_cache = self.vae.encoder_stream()
        self._decoder_cache = self.vae.decoder_stream()
        self._pending: list[VideoFrame] = []
        self._next_index = 0
        self._generator = torch.Generator(device="cpu").manual_seed(self.config.seed)
        self._stabilizer = (
            TemporalStabilizer(
                self.config.stabilize, self.config.stabilize_tolerance, flow_preset=self.config.flow_preset
            )
            if self.config.stabilize
            else None
        )
        self._refiner = (
            GuidedRefiner(
                self.config.guide,
                self.config.guide_eps,
                self.config.guide_steady,
                self.config.stabilize_tolerance,
                flow_preset=self.config.flow_preset,
            )
            if self.config.guide
            else None
        )
        self.stats = EditorStats()

    def set_prompt(self, prompt: str, transition_chunks: int | None = None) -> None:
        """Use ``prompt`` from the next chunk on, blending its embedding in over ``transition_chunks`` chunks."""
        features, mask = self.text_encoder.encode([prompt])
        steps = self.config.transition_chunks if transition_chunks is None else transition_chunks
        self._prompt.set((features, mask), steps)
        self._steady = None
        self.prompt = prompt

    def _follow_schedule(self, seconds: float) -> None:
        """Switch to the scheduled prompt of the chunk starting at ``seconds`` (if a schedule is set)."""
        prompt = self.schedule.prompt_at(seconds) if self.schedule is not None else None
        if prompt is not None and prompt != self.prompt:
            self.set_prompt(prompt)

    @property
    def frames_per_chunk(self) -> int:
        """Video frames of the next chunk."""
        ratio = self.vae.cfg.temporal_compression
        if self.stats.chunks:
            return ratio * self.config.sampler.chunk_frames
        return 1 + ratio * (self.config.first_chunk_latents - 1)

    def push(self, frames) -> list[VideoFrame]:
        """Add frames (at the editor's frame rate) and return the edited frames that became ready.

        Args:
            frames: a :class:`VideoFrame`, a list of them, or images (numpy/torch, see ``to_uint8_rgb``).
        """
        self._take(self.check_frames(frames))
        out = []
        while (chunk := self._next_chunk()) is not None:
            out += _edit_chunks([self], {0: chunk}, last=False)[0]
        return out

    def check_frames(self, frames) -> list[VideoFrame]:
        """``frames`` as :meth:`push` takes them, checked and timed, without pushing them (VideoError if bad)."""
        if isinstance(frames, list | np.ndarray | Tensor) and len(frames) == 0:
            return []
        return self._as_frames(frames)

    def _take(self, frames: list[VideoFrame]) -> None:
        for frame in frames:
            if self.stats.started is None:
                self.stats.started = time.perf_counter()
            self._pending.append(frame)
            self.stats.frames_in += 1

    def _next_chunk(self) -> list[VideoFrame] | None:
        """The frames of the next whole chunk waiting (its scheduled prompt set), or None."""
        if len(self._pending) < self.frames_per_chunk:
            return None
        batch, self._pending = self._pending[: self.frames_per_chunk], self._pending[self.frames_per_chunk :]
        self._follow_schedule(batch[0].time)
        return batch

    def flush(self) -> list[VideoFrame]:
        """End the stream: edit the frames still waiting (the partial last chunk) and return them."""
        if self._pending:
            self._follow_schedule(self._pending[0].time)
        out = _edit_chunks([self], {0: self._pending}, last=True)[0] if self._pending else []
        self._pending = []
        return out

    def edit(self, source: Iterable[VideoFrame]) -> Iterator[VideoFrame]:
        """Edit a whole source (file, camera, network stream, push source) and yield frames as they are ready.

        Sources with a frame rate or timestamps are resampled to the editor's rate. A live source is read by a
        background thread into a bounded buffer; when editing falls behind, the oldest frames are dropped
        (``stats.dropped``) so latency stays bounded.
        """
        if self._prompt.target is None and self.schedule is None:
            raise ValueError("no prompt: call set_prompt() before editing")
        resampler = FrameRateResampler(self.config.fps)
        frames: Iterable[VideoFrame] = source
        if getattr(source, "live", False):
            frames = LiveReader(source, capacity=self.config.max_lag_chunks * self._max_chunk_frames())
        last = None
        try:
            for frame in frames:
                last = frame
                for resampled in resampler.push(frame):
                    yield from self.push(resampled)
            if last is not None:  # the last input frame lasts one source frame period
                period = 1.0 / (getattr(source, "fps", None) or self.config.fps)
                for resampled in resampler.flush(last.time + period):
                    yield from self.push(resampled)
            yield from self.flush()
        finally:
            if isinstance(frames, LiveReader):
                frames.close()
                self.stats.dropped += frames.dropped
            self.stats.dropped += getattr(source, "dropped", 0)  # frames a live source itself dropped

    # -- one chunk ------------------------------------------------------------------------------------------

    def _max_chunk_frames(self) -> int:
        ratio = self.vae.cfg.temporal_compression
        return max(1 + ratio * (self.config.first_chunk_latents - 1), ratio * self.config.sampler.chunk_frames)

    def _as_frames(self, frames) -> list[VideoFrame]:
        if isinstance(frames, VideoFrame):
            frames = [frames]
        if isinstance(frames, list) and all(isinstance(f, VideoFrame) for f in frames):
            return frames
        images = to_uint8_rgb(frames)
        start = self.stats.frames_in
        return [VideoFrame(img, (start + i) / self.config.fps, start + i) for i, img in enumerate(images)]

    def _condition(self) -> TextCondition:
        if self._prompt.target is None:
            raise ValueError("no prompt: call set_prompt() before editing")
        if self._steady is not None and not self._prompt.blending:
            return self._steady
        features, mask = self._prompt.current()
        condition = self.model.encode_text(features.to(self.device), mask.to(self.device))
        if not self._prompt.blending:
            self._steady = condition
        return condition

    def _video(self, frames: list[VideoFrame]) -> tuple[list[np.ndarray], Tensor]:
        """The chunk's images at the model's resolution (padded to whole latent frames) and as (1, 3, T, H, W)."""
        ratio = self.vae.cfg.temporal_compression
        first = not self.stats.chunks
        count = len(frames)
        padded = (1 + ratio * -(-(count - 1) // ratio)) if first else ratio * -(-count // ratio)
        images = [fit_frame(f.image, self.config.resolution, self.config.fit) for f in frames]
        images += [images[-1]] * (padded - count)  # a partial last chunk repeats its last frame; dropped below
        video = torch.from_numpy(np.stack(images)).to(self.device)
        return images, video.permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0  # in [-1, 1]

    def _encoded(self, frames: list[VideoFrame], images: list[np.ndarray], raw: Tensor, timer: StageTimer) -> _Chunk:
        """A chunk after its encoding: its latents normalised, its noise drawn, the stream's caches made."""
        source = self.vae.normalize(raw).float()
        timer.mark("encode")
        if self.state is None:
            self.state = self.sampler.init_state(1, tuple(source.shape[-2:]), source.shape[2])
        noise = torch.randn(source.shape, generator=self._generator).to(self.device)
        return _Chunk(frames, images, source, noise, timer)

    def _decoded(self, chunk: _Chunk, pixels: Tensor) -> list[VideoFrame]:
        """A chunk after its decoding (its denoising marked on its timer): emitted."""
        self._prompt.advance()
        pixels = pixels[:, :, : len(chunk.frames)]
        frames = ((pixels[0].float().clamp(-1, 1) + 1) * 127.5).round()  # (3, T, H, W) on the device
        if self._refiner is not None or self._stabilizer is not None:  # timed with the decoding: the output pixels
            sources = np.stack(chunk.images[: frames.shape[1]])
            pictures = frames.transpose(0, 1)  # (T, 3, H, W)
            if self._refiner is not None:
                guide = torch.from_numpy(sources).to(pictures.device).permute(0, 3, 1, 2)
                pictures = self._refiner(guide, pictures).clamp(0, 255)
            if self._stabilizer is not None:
                flows = self._refiner.flows if self._refiner is not None else []  # the steady maps' flows, if any
                pictures = self._stabilizer.chunk(sources, pictures, flows or None)
            frames = pictures.transpose(0, 1).round()  # in [0, 255]
        out = frames.to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()
        chunk.timer.mark("decode")
        return self._emit(chunk.frames, chunk.images, out, chunk.timer)

    def _emit(self, frames, images, edited: np.ndarray, timer) -> list[VideoFrame]:
        out = []
        for frame, source, image in zip(frames, images, edited, strict=False):  # images has the padding too
            picture = side_by_side(source, image) if self.config.side_by_side else np.ascontiguousarray(image)
            out.append(VideoFrame(picture, frame.time, self._next_index))
            self._next_index += 1
        ms = timer.elapsed_ms()
        self.stats.chunks.append(
            ChunkTiming(len(self.stats.chunks), len(out), ms["encode"], ms["denoise"], ms["decode"], sum(ms.values()))
        )
        self.stats.frames_out += len(out)
        if self.stats.time_to_first_frame is None and out and self.stats.started is not None:
            self.stats.time_to_first_frame = time.perf_counter() - self.stats.started
        return out


def push_together(editors: Sequence[StreamingEditor], frames: Sequence) -> list[list[VideoFrame]]:
    """:meth:`StreamingEditor.push` for several streams that share one model: what each returns alone.

    Chunks that become due together go through the VAE encoder, the DiT (a :class:`StreamBatch`) and the VAE
    decoder in one call each, streams at different points of their videos included. A stream's first chunks
    read less cache than later ones and run in calls of their own; so do streams of other sizes.

    Args:
        editors: editors built on the same model, VAE and sampler settings (e.g. one ``from_pretrained`` and
            editors sharing its parts), one per stream.
        frames: what to push to each editor, in the same order.
    """
    if len(frames) != len(editors):
        raise ValueError(f"got frames for {len(frames)} streams and {len(editors)} editors")
    lead = editors[0]
    for ed in editors:
        if ed.model is not lead.model or ed.vae is not lead.vae or ed.sampler.config != lead.sampler.config:
            raise ValueError("push_together needs editors that share one model, VAE and sampler settings")
        if ed.sampler.model is not ed.model:
            raise ValueError("push_together cannot batch editors with CUDA graphs (they hold one stream's buffers)")
    checked = [ed.check_frames(new) for ed, new in zip(editors, frames, strict=True)]  # all, before any is taken
    for ed, new in zip(editors, checked, strict=True):
        ed._take(new)
    out: list[list[VideoFrame]] = [[] for _ in editors]
    while due := {i: chunk for i, ed in enumerate(editors) if (chunk := ed._next_chunk()) is not None}:
        for i, edited in _edit_chunks(editors, due, last=False).items():
            out[i] += edited
    return out


@torch.no_grad()
def _edit_chunks(editors, chunks: dict[int, list[VideoFrame]], last: bool) -> dict[int, list[VideoFrame]]:
    """Edit one chunk of each editor named in ``chunks`` (its index in ``editors``): streams at the same point
    of their videos' chunk pattern share the VAE encoder's, the DiT's and the VAE decoder's calls; a stream alone
    in its group runs on its own caches (and its own sampler: CUDA graphs apply). ``last``: a finite clip's
    last chunk (no cache refresh)."""
    vae = editors[0].vae
    timers = {i: StageTimer(editors[i].device) for i in chunks}
    videos = {i: editors[i]._video(frames) for i, frames in chunks.items()}
    raw = _together({i: (videos[i][1], editors[i]._encoder_cache) for i in chunks}, vae.encode_chunk)
    encoded = {i: editors[i]._encoded(chunks[i], videos[i][0], raw[i], timers[i]) for i in chunks}
    latents = {}
    # streams of different sizes never share a call
    for members in _groups({i: (StreamBatch.key(editors[i].state), encoded[i].source.shape) for i in chunks}):
        alone = len(members) == 1
        parts = [encoded[i] for i in members]
        denoised = editors[members[0]].sampler.denoise_chunk(
            torch.cat([c.noise for c in parts]),
            torch.cat([c.source for c in parts]),
            TextCondition.cat([editors[i]._condition() for i in members]),
            editors[members[0]].state if alone else StreamBatch([editors[i].state for i in members]),
            write_cache=not last,
        )
        for i, part in zip(members, denoised.split(1), strict=True):
            latents[i] = part
            encoded[i].timer.mark("denoise")  # from its encoding's end to the shared call's end
            editors[i].stats.shared_chunks += not alone
    inputs = {i: (vae.denormalize(latents[i]), editors[i]._decoder_cache) for i in chunks}
    pixels = _together(inputs, vae.decode_chunk)
    return {i: editors[i]._decoded(encoded[i], pixels[i]) for i in chunks}


def _groups(keys: dict[int, object]) -> list[list[int]]:
    """The members (keys of ``keys``) grouped by equal values, in order."""
    groups: dict = {}
    for i, key in keys.items():
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _together(tensors: dict[int, tuple[Tensor, StreamCache]], call) -> dict[int, Tensor]:
    """``call(x, cache)`` for each member's (x, StreamCache); members at the same point of their streams (equal
    cache keys and input shapes) stacked into one call. Under :func:`_edit_chunks`' no_grad."""
    out = {}
    for group in _groups({i: (cache.key(), tuple(x.shape)) for i, (x, cache) in tensors.items()}):
        if len(group) == 1:
            x, cache = tensors[group[0]]
            out[group[0]] = call(x, cache)
            continue
        caches = [tensors[i][1] for i in group]
        stacked = StreamCache.stack(caches)
        result = call(torch.cat([tensors[i][0] for i in group]), stacked)
        stacked.split_into(caches, [1] * len(group))
        for i, part in zip(group, result.split(1), strict=True):
            out[i] = part
    return out
