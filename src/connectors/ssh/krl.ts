/**
 * Encoder for OpenSSH key revocation lists (KRL), the binary format sshd reads through
 * `RevokedKeys` (specification: PROTOCOL.krl in the OpenSSH sources). Pure: no I/O, no
 * clock. Only what Keyshift needs is implemented: revoking certificates of one or more
 * CAs by serial number (KRL_SECTION_CERTIFICATES with KRL_SECTION_CERT_SERIAL_LIST
 * subsections). No signature section: OpenSSH >= 9.4 refuses signed KRLs, and hosts fetch
 * the list over a channel they already trust.
 *
 * Layout (all integers big-endian; "string" = uint32 length + bytes):
 *
 *   uint64 KRL_MAGIC "SSHKRL\n\0"   uint32 format version (1)
 *   uint64 krl_version              uint64 generated_date (seconds since the epoch)
 *   uint64 flags (0)                string reserved ("")      string comment
 *   then per CA:  byte 1 (certificates)  string { string ca_key  string reserved
 *                                                 byte 0x20  string { uint64 serial … } }
 */

const KRL_MAGIC = Buffer.from('SSHKRL\n\0', 'latin1');
const KRL_FORMAT_VERSION = 1;
const KRL_SECTION_CERTIFICATES = 1;
const KRL_SECTION_CERT_SERIAL_LIST = 0x20;
const U64_MAX = (1n << 64n) - 1n;

export interface KrlCertificateSection {
  /** The CA public key in SSH wire format (sshpk `key.toBuffer('rfc4253')`). */
  caKey: Buffer;
  /**
   * Serials to revoke. Sorted and deduplicated here. Serial 0 is refused: OpenSSH cannot
   * revoke it by serial and rejects a whole KRL that tries, so Keyshift never issues it.
   */
  serials: readonly bigint[];
}

export interface KrlInput {
  /** Increases each time the list changes; hosts may use it to spot stale copies. */
  version: bigint;
  generatedAt: Date;
  comment?: string;
  /** CAs with no serials are left out, so an empty input yields a valid empty KRL. */
  certificates: readonly KrlCertificateSection[];
}

/** Encodes a KRL. Throws RangeError on a serial outside 1..2^64-1 (a programming error). */
export function encodeKrl(input: KrlInput): Buffer {
  const parts: Buffer[] = [
    KRL_MAGIC,
    u32(KRL_FORMAT_VERSION),
    u64(input.version),
    u64(BigInt(Math.floor(input.generatedAt.getTime() / 1000))),
    u64(0n), // flags: none defined
    sshString(Buffer.alloc(0)), // reserved
    sshString(Buffer.from(input.comment ?? '', 'utf8')),
  ];
  for (const section of input.certificates) {
    const serials = sortedUnique(section.serials);
    if (serials.length === 0) continue;
    const serialList = Buffer.concat(serials.map(u64));
    const body = Buffer.concat([
      sshString(section.caKey),
      sshString(Buffer.alloc(0)), // reserved
      Buffer.from([KRL_SECTION_CERT_SERIAL_LIST]),
      sshString(serialList),
    ]);
    parts.push(Buffer.from([KRL_SECTION_CERTIFICATES]), sshString(body));
  }
  return Buffer.concat(parts);
}

function sortedUnique(serials: readonly bigint[]): bigint[] {
  for (const s of serials) {
    if (s < 1n || s > U64_MAX) throw new RangeError(`KRL serial out of range: ${s}`);
  }
  return [...new Set(serials)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

function sshString(data: Buffer): Buffer {
  return Buffer.concat([u32(data.length), data]);
}
