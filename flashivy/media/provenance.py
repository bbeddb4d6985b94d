"""What a file says about where it came from, read offline beside the model's verdict.

Four kinds of statement: a C2PA manifest (Content Credentials: who signed what the file is, and whether
the signature holds), the IPTC digital source type in XMP (``trainedAlgorithmicMedia``: made by a
generative model), the generation parameters that Stable Diffusion web UIs and ComfyUI write into PNG text
chunks, and EXIF ``Software`` / ``Make`` naming a known generator. Nothing here changes the model's score.
A file without provenance proves nothing (sharing strips metadata), and metadata can be forged: only a
valid C2PA signature ties a statement to whoever signed it. Malformed metadata becomes a note, never an
error. No network: remote manifests and certificate revocation are not fetched.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

# IPTC digital source types (http://cv.iptc.org/newscodes/digitalsourcetype/): what each says, and whether
# it says generated (True), captured (False) or neither (None)
SOURCE_TYPES = {
    "trainedAlgorithmicMedia": ("made by a generative AI model", True),
    "compositeWithTrainedAlgorithmicMedia": ("edited or composited with generative AI", True),
    "algorithmicallyEnhanced": ("enhanced by an algorithm", None),
    "algorithmicMedia": ("made by an algorithm (not a trained model)", True),
    "compositeSynthetic": ("a composite including synthetic elements", True),
    "composite": ("a composite of several images", None),
    "digitalCapture": ("captured by a digital camera", False),
    "negativeFilm": ("scanned from a negative", False),
    "positiveFilm": ("scanned from a slide", False),
    "print": ("scanned from a print", False),
    "minorHumanEdits": ("captured, with minor human edits", False),
    "virtualRecording": ("a recording of a virtual scene", None),
    "screenCapture": ("a screenshot", None),
    "dataDrivenMedia": ("made from data", None),
    "digitalArt": ("digital art made by a person", None),
}
# names that, in EXIF Software / Make / Model or a UI's text chunk, mean an image generator wrote the file
GENERATORS = ("stable diffusion", "midjourney", "dall-e", "dall·e", "dalle", "firefly", "flux", "comfyui",
              "automatic1111", "novelai", "invokeai", "fooocus", "dreamstudio", "imagen", "gemini", "chatgpt",
              "openai", "ideogram", "leonardo.ai", "bing image creator", "grok", "runway", "sora", "kling",
              "stability ai", "sdxl", "recraft")
PNG_UI_KEYS = {"parameters": "a Stable Diffusion web UI (AUTOMATIC1111, Forge, SD.Next)",
               "prompt": "ComfyUI", "workflow": "ComfyUI", "invokeai_metadata": "InvokeAI",
               "sd-metadata": "InvokeAI", "Dream": "InvokeAI", "generation_data": "a generator UI"}
XMP_SCAN_BYTES = 8 << 20  # XMP packets sit near the start (images) or either end (videos) of a file
MAX_XMP_BYTES = 1 << 20


@dataclass
class Statement:
    source: str  # "c2pa", "xmp", "png", "exif"
    says: str  # one line a person reads: who says what
    generated: bool | None  # the file says it was generated (True), captured (False), or neither
    signed_by: str | None = None  # C2PA only: the signing certificate's subject
    signature: str | None = None  # C2PA only: "valid", "valid, signer trusted", "not valid: ..."
    detail: dict = field(default_factory=dict)


@dataclass
class Provenance:
    statements: list[Statement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be read, and why

    def lines(self) -> list[str]:
        """What a person reads: each statement, each note, and what their absence means."""
        if not self.statements and not self.notes:
            return ["none found in the file (sharing usually strips it: its absence proves nothing)"]
        out = [s.says for s in self.statements] + [f"note: {n}" for n in self.notes]
        if self.statements and not any(s.source == "c2pa" and (s.signature or "").startswith("valid")
                                       for s in self.statements):
            out.append("metadata without a valid signature can be written by anyone; "
                       "it never changes the model's score")
        return out

    def as_record(self) -> dict:
        return {"statements": [asdict(s) for s in self.statements], "notes": list(self.notes),
                "summary": self.lines()}


def read_provenance(path: str | Path) -> Provenance:
    """Every provenance statement the file at ``path`` carries (images and videos alike)."""
    path = Path(path)
    found = Provenance()
    for reader in (_c2pa, _xmp, _png_text, _exif):
        try:
            reader(path, found)
        except Exception as exc:  # metadata is untrusted input: a reader's failure is a note, never a crash
            found.notes.append(f"{reader.__name__.strip('_')} metadata unreadable ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:120] if str(exc) else 'no detail'})")
    return found


# --- C2PA -------------------------------------------------------------------------------------------------

def _c2pa(path: Path, found: Provenance) -> None:
    try:
        import c2pa
    except ImportError:
        found.notes.append("C2PA manifests not read: c2pa-python is not installed")
        return
    try:
        with c2pa.Reader(path, context=_offline_context()) as reader:
            manifest = reader.get_active_manifest() or {}
            state = reader.get_validation_state()
            results = reader.get_validation_results() or {}
    except c2pa.C2paError as exc:
        name, text = type(exc).__name__, str(exc)
        if "ManifestNotFound" in name or "NotSupported" in name or "no JUMBF" in text:
            return  # no manifest (or a format C2PA does not cover): nothing to say
        found.notes.append(f"a C2PA manifest could not be read: {text.splitlines()[0][:160]} "
                           "(damaged, truncated or stripped: it proves nothing either way)")
        return
    found.statements.append(_c2pa_statement(manifest, state, results))


@lru_cache(maxsize=1)
def _offline_context():
    """One c2pa Context for every file: no remote manifest fetched, no certificate revocation asked online."""
    import c2pa

    return c2pa.Context(c2pa.Settings.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}))


def _c2pa_statement(manifest: dict, state: str | None, results: dict) -> Statement:
    tools = [" ".join(x for x in (g.get("name"), g.get("version")) if x)
             for g in manifest.get("claim_generator_info", [])]
    tools = [t for t in tools if t] or [manifest.get("claim_generator", "")]
    actions = [a for assertion in manifest.get("assertions", [])
               if assertion.get("label", "").startswith("c2pa.actions")
               for a in assertion.get("data", {}).get("actions", [])]
    types = [a.get("digitalSourceType", "").rsplit("/", 1)[-1] for a in actions if a.get("digitalSourceType")]
    agents = [agent.get("name") if isinstance(agent, dict) else agent
              for agent in (a.get("softwareAgent") for a in actions)]
    said = [SOURCE_TYPES.get(t, (f"digital source type {t}", None)) for t in types]
    generated = True if any(g for _, g in said) else (False if said and all(g is False for _, g in said) else None)
    what = "; ".join(dict.fromkeys(text for text, _ in said)) or "no statement of how it was made"
    by = ", ".join(dict.fromkeys(a for a in agents if a)) or ", ".join(t for t in tools if t)
    sig = manifest.get("signature_info", {})
    signer = " ".join(x for x in (sig.get("common_name"), f"({sig['issuer']})" if sig.get("issuer") else None) if x)
    failures = [f.get("code", "") for f in results.get("activeManifest", {}).get("failure", [])]
    broken = [code for code in failures if code != "signingCredential.untrusted"]
    if state in ("Valid", "Trusted") and not broken:
        signature = ("valid, signer trusted" if state == "Trusted"
                     else "valid, signer not on a trust list this install holds")
    else:
        signature = "not valid: " + (", ".join(broken) or state or "unknown")
    says = (f"C2PA manifest: {what}" + (f" (by {by})" if by else "")
            + f"; claim signed by {signer or 'an unnamed signer'}; signature {signature}")
    return Statement("c2pa", says, generated, signer or None, signature,
                     {"claim_generator": tools, "digital_source_types": types, "validation_state": state,
                      "failures": failures, "title": manifest.get("title")})


# --- XMP --------------------------------------------------------------------------------------------------

def _xmp_packet(path: Path) -> bytes | None:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(XMP_SCAN_BYTES)
        tail = b""
        if size > XMP_SCAN_BYTES:
            fh.seek(max(XMP_SCAN_BYTES, size - XMP_SCAN_BYTES))
            tail = fh.read()
    for chunk in (head, tail):  # find, not a regex: linear however many openings a hostile file holds
        start = chunk.find(b"<x:xmpmeta")
        end = chunk.find(b"</x:xmpmeta>", start, start + MAX_XMP_BYTES) if start >= 0 else -1
        if end > start:
            return chunk[start:end + len(b"</x:xmpmeta>")]
    return None


def _xmp_field(packet: str, name: str) -> str | None:
    """A property's value, written as an attribute (``ns:Name="v"``) or an element (``<ns:Name>v</ns:Name>``,
    or an rdf:resource)."""
    for pattern in (rf'\b\w+:{name}\s*=\s*"([^"]*)"', rf"<\w+:{name}\b[^>]*>\s*([^<\s][^<]*?)\s*</\w+:{name}>",
                    rf'<\w+:{name}\b[^>]*rdf:resource\s*=\s*"([^"]*)"'):
        match = re.search(pattern, packet)
        if match:
            return match.group(1).strip()
    return None


def _xmp(path: Path, found: Provenance) -> None:
    packet = _xmp_packet(path)
    if packet is None:
        return
    text = packet.decode("utf-8", "replace")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        found.notes.append("an XMP packet declares entities: not read (a well-formed XMP packet never does)")
        return
    source_type = _xmp_field(text, "DigitalSourceType")
    tool = _xmp_field(text, "CreatorTool")
    if text.count("<") != text.count(">"):
        found.notes.append("the XMP packet is malformed; what could be read from it is reported")
    if source_type:
        key = source_type.rsplit("/", 1)[-1]
        meaning, generated = SOURCE_TYPES.get(key, (f"digital source type {key}", None))
        says = f"XMP (IPTC): {meaning}" + (f" (creator tool: {tool})" if tool else "")
        found.statements.append(Statement("xmp", says, generated, detail={"digital_source_type": source_type,
                                                                         "creator_tool": tool}))
    elif tool and _generator_named(tool):
        found.statements.append(Statement("xmp", f"XMP: creator tool {tool}, an image generator", True,
                                          detail={"creator_tool": tool}))


# --- PNG text chunks --------------------------------------------------------------------------------------

def _png_text(path: Path, found: Provenance) -> None:
    with open(path, "rb") as fh:
        if fh.read(8) != b"\x89PNG\r\n\x1a\n":
            return
    from .images import open_image

    with open_image(path) as img:
        img.load()  # text chunks after the image data are read with it
        chunks = dict(getattr(img, "text", {}) or {})
    for key, ui in PNG_UI_KEYS.items():
        if key not in chunks:
            continue
        value = str(chunks[key])
        detail: dict = {"chunk": key, "length": len(value)}
        if ui == "ComfyUI":
            try:
                json.loads(value)
            except ValueError:
                found.notes.append(f"PNG text chunk {key!r} is not the JSON ComfyUI writes")
                continue
        model = re.search(r"\bModel:\s*([^,\n]+)", value)
        if model:
            detail["model"] = model.group(1).strip()
        says = f"PNG text chunk {key!r}: generation settings as {ui} writes them" + (
            f" (model: {detail['model']})" if "model" in detail else "")
        found.statements.append(Statement("png", says, True, detail=detail))
    for key in ("Software", "Source", "Comment", "Description"):
        if key in chunks and _generator_named(str(chunks[key])):
            found.statements.append(Statement("png", f"PNG text chunk {key!r}: {str(chunks[key])[:80]}", True,
                                              detail={"chunk": key}))


# --- EXIF -------------------------------------------------------------------------------------------------

EXIF_TAGS = {0x0131: "Software", 0x010F: "Make", 0x0110: "Model", 0x013B: "Artist", 0x010E: "ImageDescription"}


def _exif(path: Path, found: Provenance) -> None:
    from PIL import UnidentifiedImageError

    from .images import open_image

    try:
        img = open_image(path)
    except (UnidentifiedImageError, OSError):
        return  # not an image (a video, say): nothing of EXIF to read
    with img:
        exif = img.getexif()
    for tag, name in EXIF_TAGS.items():
        value = exif.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and _generator_named(value):
            found.statements.append(Statement("exif", f"EXIF {name}: {value.strip()[:80]}, an image generator", True,
                                              detail={"tag": name, "value": value.strip()[:200]}))


def _generator_named(text: str) -> bool:
    low = text.lower()
    return any(re.search(rf"(?<![a-z]){re.escape(g)}(?![a-z])", low) for g in GENERATORS)
