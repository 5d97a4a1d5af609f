/**
 * Builds `lsblk` JSON entries with every column of `LSBLK_ARGS`, as util-linux 2.38 prints them:
 * a 1 GiB non-rotational device with 512-byte sectors and no identifiers, unless `fields` say
 * otherwise (`fields` may also add keys, such as `children`).
 */
export function lsblkEntry(
  kname: string,
  type: string,
  fields: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    kname,
    model: null,
    size: 2 ** 30,
    rota: false,
    type,
    uuid: null,
    partuuid: null,
    serial: null,
    wwn: null,
    "log-sec": 512,
    "phy-sec": 512,
    tran: null,
    ...fields,
  };
}
