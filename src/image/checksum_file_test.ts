import assert from "node:assert/strict";
import { ImageDownloadError } from "../api/errors.ts";
import { parseChecksumFile } from "./checksum_file.ts";

const SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const OTHER = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
const MD5 = "5d41402abc4b2a76b9719d911017c592";
const SHA512 = "ee26b0dd4af7e749aa1a8ee3c10ae9923f618980772e473f8819a5d4940e0db2" +
  "7ac185f8a0e1d5f84f88bc887fd67b143732c304cc5fa9ad8e6f57f50028a8ff";
const options = { url: "http://images/SHA256SUMS", expectedName: "disk.img" };

function failure(text: string): string {
  try {
    parseChecksumFile(text, options);
  } catch (err) {
    assert.ok(err instanceof ImageDownloadError, `unexpected ${err}`);
    return err.details;
  }
  assert.fail("parseChecksumFile() accepted an invalid file");
}

Deno.test("parseChecksumFile() finds the image's digest", async (t) => {
  const cases: { name: string; text: string; expected: string }[] = [
    { name: "single bare digest", text: `${SHA256}\n`, expected: SHA256 },
    { name: "single bare md5 with blank lines", text: `\n\n  ${MD5}  \n\n`, expected: MD5 },
    { name: "single bare sha512", text: SHA512, expected: SHA512 },
    { name: "GNU text mode", text: `${OTHER}  other.img\n${SHA256}  disk.img\n`, expected: SHA256 },
    { name: "GNU binary mode", text: `${SHA256} *disk.img`, expected: SHA256 },
    { name: "single GNU line", text: `${SHA256}  disk.img`, expected: SHA256 },
    {
      name: "BSD style",
      text: `SHA256 (other.img) = ${OTHER}\nSHA256 (disk.img) = ${SHA256}\n`,
      expected: SHA256,
    },
    {
      name: "comments are skipped",
      text: `# ${OTHER}  disk.img\n${SHA256}  disk.img\n`,
      expected: SHA256,
    },
    {
      name: "CRLF line ends",
      text: `${OTHER}  other.img\r\n${SHA256}  disk.img\r\n`,
      expected: SHA256,
    },
    {
      name: "a longer name ending in the image name does not match",
      text: `${OTHER}  my-disk.img\n${SHA256}  disk.img\n`,
      expected: SHA256,
    },
    {
      name: "upper-case digest is returned as written",
      text: `${SHA256.toUpperCase()}  disk.img`,
      expected: SHA256.toUpperCase(),
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.equal(parseChecksumFile(c.text, options), c.expected));
  }
});

Deno.test("parseChecksumFile() matches a percent-encoded image name", () => {
  const digest = parseChecksumFile(`${SHA256}  my disk.img\n${OTHER}  x`, {
    url: "http://images/SUMS",
    expectedName: "my%20disk.img",
  });
  assert.equal(digest, SHA256);
});

Deno.test("parseChecksumFile() explains what is wrong with a file", async (t) => {
  const cases: { name: string; text: string; expected: string }[] = [
    {
      name: "empty",
      text: " \n\n",
      expected: "Download of image http://images/SHA256SUMS failed: Empty checksum file",
    },
    {
      name: "a single word that is not a digest",
      text: "not-a-digest",
      expected: "Download of image http://images/SHA256SUMS failed: Invalid checksum file: " +
        '"not-a-digest" is not a 32, 64 or 128 character hex digest',
    },
    {
      name: "no line for the image",
      text: `${OTHER}  other.img\n${SHA256}  another.img\n`,
      expected: "Download of image http://images/SHA256SUMS failed: Checksum file does not " +
        "contain name disk.img",
    },
    {
      name: "the image only in a comment",
      text: `# ${SHA256}  disk.img\n${OTHER}  other.img\n`,
      expected: "Download of image http://images/SHA256SUMS failed: Checksum file does not " +
        "contain name disk.img",
    },
    {
      name: "the image's line has no digest",
      text: `deadbeef  disk.img\n${OTHER}  other.img\n`,
      expected: "Download of image http://images/SHA256SUMS failed: Invalid checksum file: " +
        'the line for disk.img has no 32, 64 or 128 character hex digest: "deadbeef  disk.img"',
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.equal(failure(c.text), c.expected));
  }
});
