"""Provenance: files built with each kind of statement, and the record says what the file says."""
import datetime
import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from flashivy.media.provenance import read_provenance

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _photo(path, fmt="JPEG", **save):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, fmt, **save)
    return path


def _test_signer():
    """An ES256 signing certificate under a root CA made here (C2PA refuses a self-signed end entity)."""
    import c2pa
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Flashivy test")])

    def usage(**on):
        keys = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
        return x509.KeyUsage(**{k: on.get(k, False) for k in keys})

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def cert(subject, public, ca: bool):
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("Test root"))
                   .public_key(public).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
        else:
            builder = (builder.add_extension(usage(digital_signature=True), critical=True)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                      critical=False))
        return builder.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    chain = cert("Test generator signer", key.public_key(), False).public_bytes(pem) + \
        cert("Test root", ca_key.public_key(), True).public_bytes(pem)
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None))


def _sign(src, dst, source_type=TRAINED, agent="TestGen Diffusion 2"):
    import c2pa

    manifest = {"claim_generator_info": [{"name": "TestGen", "version": "1.0"}], "title": dst.name,
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": source_type, "softwareAgent": {"name": agent}}]}}]}
    with c2pa.Builder(manifest) as builder, open(src, "rb") as fin, open(dst, "w+b") as fout:
        builder.sign(_test_signer(), "image/jpeg", fin, fout)
    return dst


def test_a_plain_photo_says_nothing_and_the_record_says_so(tmp_path):
    found = read_provenance(_photo(tmp_path / "plain.jpg"))
    assert found.statements == [] and found.notes == []
    assert "absence proves nothing" in found.lines()[0]


def test_a_signed_c2pa_manifest_says_who_made_it_and_that_the_signature_holds(tmp_path):
    signed = _sign(_photo(tmp_path / "plain.jpg"), tmp_path / "signed.jpg")
    (c2pa_statement,) = read_provenance(signed).statements
    assert c2pa_statement.source == "c2pa" and c2pa_statement.generated is True
    assert c2pa_statement.signed_by == "Test generator signer (Flashivy test)"
    assert c2pa_statement.signature.startswith("valid") and "not on a trust list" in c2pa_statement.signature
    assert "made by a generative AI model (by TestGen Diffusion 2)" in c2pa_statement.says
    # one byte of the picture changed after signing: the claim no longer holds, and the record says so
    data = bytearray(signed.read_bytes())
    data[-20] ^= 0xFF
    (tmp_path / "tampered.jpg").write_bytes(bytes(data))
    (broken,) = read_provenance(tmp_path / "tampered.jpg").statements
    assert broken.signature.startswith("not valid") and "dataHash.mismatch" in broken.signature
    # a camera capture, signed, says captured
    camera = _sign(_photo(tmp_path / "cam.jpg"), tmp_path / "camera.jpg",
                   "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture", "TestCam")
    assert read_provenance(camera).statements[0].generated is False


def test_a_truncated_manifest_is_a_note_not_an_error(tmp_path):
    signed = _sign(_photo(tmp_path / "plain.jpg"), tmp_path / "signed.jpg")
    data = signed.read_bytes()
    start = data.index(b"jumb")  # cut the file inside its C2PA (JUMBF) box
    (tmp_path / "cut.jpg").write_bytes(data[:start + 200])
    found = read_provenance(tmp_path / "cut.jpg")
    assert not [s for s in found.statements if s.source == "c2pa"]
    assert found.notes and "C2PA manifest could not be read" in found.notes[0]


def _jpeg_with_xmp(path, packet: str):
    """A JPEG with an XMP APP1 segment right after its start marker."""
    plain = _photo(path.with_suffix(".plain.jpg")).read_bytes()
    body = b"http://ns.adobe.com/xap/1.0/\x00" + packet.encode()
    path.write_bytes(plain[:2] + b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body + plain[2:])
    return path


XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
       'xmlns:xmp="http://ns.adobe.com/xap/1.0/" Iptc4xmpExt:DigitalSourceType="{type}" xmp:CreatorTool="{tool}"/>'
       '</rdf:RDF></x:xmpmeta>')


def test_xmp_digital_source_type(tmp_path):
    path = _jpeg_with_xmp(tmp_path / "xmp.jpg", XMP.format(type=TRAINED, tool="Adobe Firefly"))
    (statement,) = read_provenance(path).statements
    assert statement.source == "xmp" and statement.generated is True
    assert statement.says == "XMP (IPTC): made by a generative AI model (creator tool: Adobe Firefly)"
    element = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description><Iptc4xmpExt:DigitalSourceType>'
               'http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture</Iptc4xmpExt:DigitalSourceType>'
               '</rdf:Description></rdf:RDF></x:xmpmeta>')
    assert read_provenance(_jpeg_with_xmp(tmp_path / "el.jpg", element)).statements[0].generated is False
    bomb = '<x:xmpmeta><!DOCTYPE x [<!ENTITY a "aaaa">]><rdf:RDF>&a;</rdf:RDF></x:xmpmeta>'
    found = read_provenance(_jpeg_with_xmp(tmp_path / "bomb.jpg", bomb))
    assert found.statements == [] and "declares entities" in found.notes[0]


def test_png_chunks_of_generator_uis(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a portrait of a man\nNegative prompt: blurry\nSteps: 30, Sampler: Euler a, "
                                "CFG scale: 7, Seed: 1, Model: sd_xl_base_1.0")
    (a1111,) = read_provenance(_photo(tmp_path / "a1111.png", "PNG", pnginfo=info)).statements
    assert a1111.source == "png" and a1111.generated is True and a1111.detail["model"] == "sd_xl_base_1.0"
    assert "Stable Diffusion web UI" in a1111.says
    comfy = PngImagePlugin.PngInfo()
    comfy.add_text("prompt", json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 5}}}))
    comfy.add_itxt("workflow", json.dumps({"nodes": []}))
    found = read_provenance(_photo(tmp_path / "comfy.png", "PNG", pnginfo=comfy))
    assert [s.detail["chunk"] for s in found.statements] == ["prompt", "workflow"]
    assert all("ComfyUI" in s.says for s in found.statements)
    broken = PngImagePlugin.PngInfo()
    broken.add_text("workflow", '{"nodes": [')  # cut off mid-JSON
    found = read_provenance(_photo(tmp_path / "broken.png", "PNG", pnginfo=broken))
    assert found.statements == [] and "not the JSON ComfyUI writes" in found.notes[0]


def test_exif_software_naming_a_generator(tmp_path):
    exif = Image.Exif()
    exif[0x0131] = "Midjourney v6"
    (statement,) = read_provenance(_photo(tmp_path / "mj.jpg", exif=exif)).statements
    assert statement.source == "exif" and statement.generated is True and "Midjourney v6" in statement.says
    camera = Image.Exif()
    camera[0x010F], camera[0x0131] = "Canon", "Adobe Lightroom 13.0"  # a camera and an editor: no statement
    assert read_provenance(_photo(tmp_path / "canon.jpg", exif=camera)).statements == []


def test_provenance_reaches_the_json_record_and_never_the_score(tmp_path, astronaut):
    from flashivy import Detector
    from flashivy.inference.batch import record

    face = tmp_path / "face.jpg"
    Image.fromarray(astronaut).save(face, quality=95)
    signed = _sign(face, tmp_path / "signed_face.jpg")
    det = Detector.from_checkpoint(device="cpu")
    plain, marked = det.predict_image(face), det.predict_image(signed)
    rec = json.loads(json.dumps(record(marked, signed, "image", None)))
    assert rec["provenance"]["statements"][0]["generated"] is True
    assert rec["provenance"]["summary"][0].startswith("C2PA manifest: made by a generative AI model")
    assert marked.fake_probability == pytest.approx(plain.fake_probability, abs=1e-6)  # the pixels decide
    assert record(plain, face, "image", None)["provenance"]["statements"] == []


def test_a_video_container_carries_its_provenance_too(tmp_path, face_video):
    """An MP4 signed with C2PA (its manifest in a BMFF box), and one with an XMP uuid box appended."""
    import c2pa

    from flashivy import Detector

    manifest = {"claim_generator_info": [{"name": "TestGen", "version": "1.0"}], "title": "clip.mp4",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": TRAINED}]}}]}
    signed = tmp_path / "signed.mp4"
    with c2pa.Builder(manifest) as builder, open(face_video, "rb") as fin, open(signed, "w+b") as fout:
        builder.sign(_test_signer(), "video/mp4", fin, fout)
    (statement,) = read_provenance(signed).statements
    assert statement.generated is True and statement.signature.startswith("valid")
    packet = XMP.format(type=TRAINED, tool="TestGen Video").encode()
    box = (24 + len(packet)).to_bytes(4, "big") + b"uuid" + bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
    (tmp_path / "xmp.mp4").write_bytes(face_video.read_bytes() + box + packet)
    result = Detector.from_checkpoint(device="cpu").predict_video(tmp_path / "xmp.mp4", num_frames=4)
    assert result.prediction is not None  # the appended box does not disturb decoding
    assert result.provenance["statements"][0]["source"] == "xmp"
    assert result.provenance["statements"][0]["generated"] is True
