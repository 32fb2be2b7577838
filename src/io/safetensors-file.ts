// Reading and atomically writing .safetensors files.
//
// Reads check the file size and the 8-byte header length prefix before loading the
// whole file. Writes go to a uniquely named temp file in the same directory, are
// fsynced, then renamed over the target; on any failure the temp file is removed
// and the error rethrown, so the target is either the old file or the complete new one.

import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { constants as bufferConstants } from "node:buffer";
import { dirname } from "node:path";
import { SafetensorsError, type SafetensorsContents, type StoredTensor } from "./safetensors-common.js";
import { checkHeaderLength, parseSafetensors } from "./safetensors-parse.js";
import { serializeSafetensors } from "./safetensors-write.js";

type TensorsArg = Map<string, StoredTensor> | Record<string, StoredTensor>;

function checkFileSize(size: number, path: string): void {
  if (size > bufferConstants.MAX_LENGTH) {
    throw new SafetensorsError(
      "FILE_TOO_LARGE",
      `file is ${size} bytes; at most ${bufferConstants.MAX_LENGTH} bytes can be loaded into one buffer`,
      { source: path },
    );
  }
}

function shrank(path: string, expected: number, got: number): SafetensorsError {
  return new SafetensorsError("FILE_CHANGED", `expected ${expected} bytes but the file ended after ${got}`, {
    source: path,
  });
}

/** Read and parse a .safetensors file. Error messages name `path`. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsContents> {
  const handle = await fsp.open(path, "r");
  try {
    const { size } = await handle.stat();
    const prefix = new Uint8Array(8);
    if (size >= 8) await handle.read(prefix, 0, 8, 0);
    checkHeaderLength(prefix, size, path);
    checkFileSize(size, path);
    const bytes = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await handle.read(bytes, got, size - got, got);
      if (bytesRead === 0) throw shrank(path, size, got);
      got += bytesRead;
    }
    return parseSafetensors(bytes, path);
  } finally {
    await handle.close();
  }
}

/** Synchronous form of readSafetensorsFile. */
export function readSafetensorsFileSync(path: string): SafetensorsContents {
  const fd = fs.openSync(path, "r");
  try {
    const { size } = fs.fstatSync(fd);
    const prefix = new Uint8Array(8);
    if (size >= 8) fs.readSync(fd, prefix, 0, 8, 0);
    checkHeaderLength(prefix, size, path);
    checkFileSize(size, path);
    const bytes = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, bytes, got, size - got, got);
      if (n === 0) throw shrank(path, size, got);
      got += n;
    }
    return parseSafetensors(bytes, path);
  } finally {
    fs.closeSync(fd);
  }
}

let tempCounter = 0;
const MAX_TEMP_ATTEMPTS = 100;

function nextTempPath(path: string): string {
  tempCounter += 1;
  return `${path}.${process.pid}.${tempCounter}.tmp`;
}

function isExists(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "EEXIST";
}

/** Write bytes to `path` atomically (temp file + fsync + rename). */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  let tmp = "";
  let handle: fsp.FileHandle | undefined;
  for (let attempt = 1; handle === undefined; attempt++) {
    tmp = nextTempPath(path);
    try {
      handle = await fsp.open(tmp, "wx");
    } catch (e) {
      if (!isExists(e) || attempt >= MAX_TEMP_ATTEMPTS) throw e;
    }
  }
  try {
    await handle.writeFile(bytes);
    await handle.sync();
    const h = handle;
    handle = undefined;
    await h.close();
    await fsp.rename(tmp, path);
  } catch (e) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await syncDirectory(dirname(path));
}

/** Synchronous form of writeFileAtomic. */
export function writeFileAtomicSync(path: string, bytes: Uint8Array): void {
  let tmp = "";
  let fd: number | undefined;
  for (let attempt = 1; fd === undefined; attempt++) {
    tmp = nextTempPath(path);
    try {
      fd = fs.openSync(tmp, "wx");
    } catch (e) {
      if (!isExists(e) || attempt >= MAX_TEMP_ATTEMPTS) throw e;
    }
  }
  try {
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
    fs.fsyncSync(fd);
    const f = fd;
    fd = undefined;
    fs.closeSync(f);
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; keep the original error
      }
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  syncDirectorySync(dirname(path));
}

/** Best-effort fsync of a directory so the rename itself is durable. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const d = await fsp.open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // unsupported on some platforms (e.g. Windows); the data itself is already synced
  }
}

function syncDirectorySync(dir: string): void {
  try {
    const d = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  } catch {
    // best-effort, as in syncDirectory
  }
}

/**
 * Serialize and atomically write a .safetensors file. Serialization errors are
 * thrown before anything touches the disk, so an existing file is left untouched.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: TensorsArg,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

/** Synchronous form of writeSafetensorsFile. */
export function writeSafetensorsFileSync(path: string, tensors: TensorsArg, metadata?: Record<string, string>): void {
  writeFileAtomicSync(path, serializeSafetensors(tensors, metadata));
}
