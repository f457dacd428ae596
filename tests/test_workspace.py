"""`signflow init` and the settings every command picks up inside a workspace."""

import json


def test_init_then_commands_use_the_workspace(cli, tmp_path, monkeypatch):
    ws = tmp_path / "cum-2-2026"
    result = cli("init", ws, "--year", "2026")
    assert result.code == 0, result.err
    for name in ("signflow.toml", "roster.toml", "data.toml", "templates/giao-uoc-thi-dua.docx"):
        assert (ws / name).is_file(), name
    (ws / "sub").mkdir()
    monkeypatch.chdir(ws / "sub")  # settings are found in a folder above too
    result = cli("generate", "--no-pdf", "--only", "giao-uoc-thi-dua")
    assert result.code == 0, result.err
    assert (ws / "out" / "2026" / "cluster" / "giao-uoc-thi-dua-2026.docx").is_file()
    # a command-line option overrides the workspace
    result = cli("generate", "--no-pdf", "--only", "giao-uoc-thi-dua", "--out", tmp_path / "x")
    assert result.code == 0, result.err
    assert (tmp_path / "x" / "2026").is_dir()
    manifest = json.loads((ws / "out" / "2026" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["documents"][0]["kind"] == "giao-uoc-thi-dua"


def test_init_refuses_a_non_empty_folder(cli, tmp_path):
    (tmp_path / "x.txt").write_text("x")
    result = cli("init", tmp_path)
    assert result.code == 2, result.err
    assert f"{tmp_path} không rỗng" in result.err, result.err


def test_bad_settings_are_one_clear_error(cli, tmp_path, monkeypatch):
    (tmp_path / "signflow.toml").write_text('[workspace]\nroster = 5\ncolour = "x"\n')
    monkeypatch.chdir(tmp_path)
    result = cli("status", tmp_path / "none.pdf")
    assert result.code == 2, result.err
    # the file and the unknown key named
    assert "signflow.toml: thiết lập không xác định: colour" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
