"""The operator's contacts file: every row used or reported, and who receives a unit's messages."""

import pytest

from pipelines.contacts import Contacts, ContactsFileError, read_contacts, recipients_for

UNITS = {"01", "001", "002", "00004"}
OFFICE = ("cchc@hanoi.test",)


def contacts_file(tmp_path, text: str):
    path = tmp_path / "contacts.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_usable_row_is_kept_and_every_other_reported_with_its_line(tmp_path):
    path = contacts_file(
        tmp_path,
        "unit_code,email,name\n"
        "001,chanhvp@badinh.hanoi.test,Chánh Văn phòng\n"
        "001,cchc@badinh.hanoi.test,Tổ CCHC\n"
        "001,CCHC@badinh.hanoi.test,duplicate in another case\n"
        "\n"
        "1,pho@badinh.hanoi.test,leading zeros lost by a spreadsheet\n"
        "002,not an address,\n"
        "00004,,\n"
        ",someone@hanoi.test,\n"
        "CAP_XA,levels@hanoi.test,\n"
        "00004,a@b.c;d@e.f,two in one cell\n",
    )
    contacts = read_contacts(path, UNITS)
    assert contacts.addresses == {"001": ("chanhvp@badinh.hanoi.test", "cchc@badinh.hanoi.test")}
    assert [(p.line, p.unit_code, p.problem.split(" (")[0]) for p in contacts.problems] == [
        (6, "1", "unknown unit code"),
        (7, "002", "malformed e-mail address"),
        (8, "00004", "no e-mail address"),
        (9, "", "no unit code"),
        (10, "CAP_XA", "unknown unit code"),
        (11, "00004", "malformed e-mail address"),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (None, "does not exist"),
        ("code,mail\n001,a@b.vn\n", "must start with the header line unit_code,email,name"),
        ("", "must start with the header line"),
    ],
)
def test_an_unreadable_contacts_file_is_one_sentence(tmp_path, text, says):
    path = tmp_path / "contacts.csv" if text is None else contacts_file(tmp_path, text)
    with pytest.raises(ContactsFileError, match=says) as raised:
        read_contacts(path, UNITS)
    assert "\n" not in str(raised.value) and str(path) in str(raised.value)


def test_a_unit_with_contacts_gets_its_own_messages_with_the_office_copied():
    contacts = Contacts({"001": ("a@badinh.test", "cchc@hanoi.test")})
    own = recipients_for("001", contacts, OFFICE + ("office2@hanoi.test",))
    assert (own.to, own.cc) == (("a@badinh.test", "cchc@hanoi.test"), ("office2@hanoi.test",))
    orphan = recipients_for("002", contacts, OFFICE)
    assert (orphan.to, orphan.cc) == (OFFICE, ())
