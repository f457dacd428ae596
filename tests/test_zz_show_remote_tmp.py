LOG = []

from tests.test_remote import document  # noqa
from tests.test_remote import csc_service, sign_args, Provider, credential_id, MEMBER, PIN

def test_show(cli, document, demo_pki, tmp_path, monkeypatch):
    (tmp_path / "pin").write_text("999999")
    monkeypatch.setenv("SIGNFLOW_CSC_PIN", PIN)
    with csc_service(demo_pki, provider=Provider()) as url:
        for extra in ((), ("--csc-credential", credential_id(demo_pki, "nam-dinh")),
                      ("--csc-credential", "signflow-demo/nope"),
                      ("--csc-pin-file", str(tmp_path / "pin")),
                      ("--role", "seal")):
            r = cli(*sign_args(document, demo_pki, url, *extra))
            LOG.append(str(("\n>>>", extra, r.code, "\nOUT:", r.out, "\nERR:", r.err)))
        r = cli("--lang", "en", *sign_args(document, demo_pki, url, "--csc-pin-file", str(tmp_path / "pin")))
        LOG.append(str(("\n>>> en", r.code, r.err)))
    r = cli(*sign_args(document, demo_pki, url))
    LOG.append(str(("\n>>> gone", r.code, r.err)))
    for u in ("http://ky-so.example.vn", "https://u:secret@x.vn", "ftp://x", "https://x.vn:99999"):
        r = cli(*sign_args(document, demo_pki, u))
        LOG.append(str(("\n>>>", u, r.code, r.err)))


    open("/tmp/show.log", "w").write("\n".join(LOG))
