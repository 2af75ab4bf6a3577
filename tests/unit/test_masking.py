"""common/masking.py: mask_phone and mask_pii."""
from __future__ import annotations

import pytest

from common.masking import mask_phone, mask_pii

# --- mask_phone ------------------------------------------------------------------------------

@pytest.mark.parametrize("phone, masked", [
    ("13812345678", "138****5678"),
    ("19912340000", "199****0000"),
    ("17329805146", "173****5146"),
])
def test_mask_phone_mobile(phone, masked):
    assert mask_phone(phone) == masked


def test_mask_phone_other_values_keep_only_last_four_digits():
    assert mask_phone("12345678901") == "*******8901"   # starts 12: not a mobile number
    assert mask_phone("021-12345678") == "021-****5678"
    assert mask_phone("1234") == "1234"


def test_mask_phone_empty_and_none():
    assert mask_phone("") == ""
    assert mask_phone(None) == ""


# --- mask_pii --------------------------------------------------------------------------------

def test_phone_inside_chinese_text_without_spaces():
    assert mask_pii("我的手机13812345678谢谢") == "我的手机138****5678谢谢"


def test_several_phones_are_all_masked():
    out = mask_pii("电话13812345678或者15067893421")
    assert out == "电话138****5678或者150****3421"
    assert "13812345678" not in out and "15067893421" not in out


def test_phone_in_english_text_with_punctuation():
    assert mask_pii("call me at 13812345678.") == "call me at 138****5678."


@pytest.mark.parametrize("text", [
    "订单号202401011234",
    "订单241106329572到哪了",
    "order 138123456789 please",   # 12 digits that start like a phone number
    "单号 131234567890",
])
def test_twelve_digit_order_numbers_are_not_masked_as_phones(text):
    assert mask_pii(text) == text


@pytest.mark.parametrize("text", ["流水号2213812345678", "138123456789012", "单号9913812345678号"])
def test_phone_like_run_inside_a_longer_number_is_not_masked(text):
    assert mask_pii(text) == text


def test_order_number_kept_while_phone_masked_in_same_text():
    assert (mask_pii("单号250101284639 电话17329805146")
            == "单号250101284639 电话173****5146")


@pytest.mark.parametrize("text, masked", [
    ("身份证11010519491231002X号", "身份证110105********002X号"),
    ("身份证11010519491231002x", "身份证110105********002x"),
    ("ID 110105194912310021 ok", "ID 110105********0021 ok"),
])
def test_id_card_numbers(text, masked):
    assert mask_pii(text) == masked


def test_id_card_starting_like_a_phone_is_masked_as_an_id():
    # 18 digits beginning "13...": must be masked as one ID number, not partly as a phone.
    assert mask_pii("身份证号 13010519800101123X") == "身份证号 130105********123X"


def test_email_in_english_text():
    assert mask_pii("mail me at alice.smith@example.com please") == "mail me at a***@example.com please"


def test_email_after_fullwidth_colon():
    assert mask_pii("邮箱：bob@shop.cn") == "邮箱：b***@shop.cn"


def test_email_right_after_chinese_text():
    out = mask_pii("我的邮箱是abc@example.com")
    assert "abc@example.com" not in out
    assert out == "我的邮箱是a***@example.com"


@pytest.mark.parametrize("text", [
    "运费怎么算",
    "How much is shipping?",
    "我要退货 order 241106329572",
    "价格是99元，2件",
    "",
])
def test_text_without_pii_is_unchanged(text):
    assert mask_pii(text) == text


def test_none_is_returned_as_is():
    assert mask_pii(None) is None


def test_everything_at_once():
    text = "手机13812345678，身份证11010519491231002X，邮箱 a.b@x.org，订单241106329572"
    assert mask_pii(text) == "手机138****5678，身份证110105********002X，邮箱 a***@x.org，订单241106329572"
