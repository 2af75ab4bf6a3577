"""WeChat / WeCom message signatures and encryption ("safe mode"), as the published protocol defines
them — pure functions, no I/O; shared by the Official Account and the WeCom channels.

- signature: SHA-1 (hex) of the sorted, concatenated strings: [token, timestamp, nonce] for plain
  mode and URL checks, plus the ciphertext for encrypted messages (`msg_signature`).
- encryption: AES-256-CBC with key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 padding to a
  multiple of 32 bytes; the plaintext is 16 random bytes + 4-byte big-endian length + message +
  receive id (the AppID, or the CorpID for WeCom); the result travels base64-encoded.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field
from typing import Optional

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not to AES's 16
MAX_CIPHERTEXT = 1 << 20  # a message envelope is a few KiB; refuse megabytes before decoding


class WeChatCryptoError(ValueError):
    """A message could not be verified or decrypted; the text says why (never the key)."""


class InvalidSignature(WeChatCryptoError):
    pass


class InvalidAESKey(WeChatCryptoError):
    pass


class DecryptError(WeChatCryptoError):
    pass


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_matches(given: Optional[str], *parts: str) -> bool:
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.lower().encode("ascii", "replace"), signature(*parts).encode("ascii"))


def aes_key(encoding_aes_key: str) -> bytes:
    if not isinstance(encoding_aes_key, str) or len(encoding_aes_key) != 43:
        raise InvalidAESKey("EncodingAESKey must be 43 characters (as shown in the WeChat admin console)")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidAESKey("EncodingAESKey is not valid base64") from exc
    if len(key) != 32:
        raise InvalidAESKey("EncodingAESKey does not decode to 32 bytes")
    return key


def _pad(data: bytes) -> bytes:
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def _unpad(data: bytes) -> bytes:
    if not data:
        raise DecryptError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= BLOCK or len(data) < n or data[-n:] != bytes([n]) * n:
        raise DecryptError("bad padding")
    return data[:-n]


@dataclass(frozen=True)
class MessageCrypto:
    """Encrypts and decrypts message bodies of one account (token, EncodingAESKey, AppID/CorpID)."""
    token: str
    encoding_aes_key: str
    receive_id: str
    key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.token:
            raise WeChatCryptoError("a token is required")
        object.__setattr__(self, "key", aes_key(self.encoding_aes_key))

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: str, random_prefix: Optional[bytes] = None) -> str:
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("the random prefix must be 16 bytes")
        body = message.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode("utf-8")
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(_pad(plain)) + encryptor.finalize()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        if not isinstance(ciphertext, str) or not ciphertext:
            raise DecryptError("no ciphertext")
        if len(ciphertext) > MAX_CIPHERTEXT:
            raise DecryptError("ciphertext too large")
        try:
            raw = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecryptError("ciphertext is not base64") from exc
        if not raw or len(raw) % 16:
            raise DecryptError("ciphertext length is not a multiple of the AES block")
        decryptor = self._cipher().decryptor()
        plain = _unpad(decryptor.update(raw) + decryptor.finalize())
        if len(plain) < 20:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise DecryptError("length field beyond the plaintext")
        body, receive_id = plain[20:20 + length], plain[20 + length:]
        if receive_id.decode("utf-8", "replace") != self.receive_id:
            raise DecryptError("message is for another AppID/CorpID")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecryptError("message is not UTF-8") from exc

    def msg_signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return signature(self.token, timestamp, nonce, encrypted)

    def verify_and_decrypt(self, msg_signature: Optional[str], timestamp: str, nonce: str,
                           encrypted: str) -> str:
        if not signature_matches(msg_signature, self.token, timestamp, nonce, encrypted):
            raise InvalidSignature("msg_signature does not match")
        return self.decrypt(encrypted)
