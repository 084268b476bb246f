import fs from 'node:fs';
import path from 'node:path';
import { fromBinary, toBinary, type DescFile, type DescMessage, type DescEnum } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { PROJECT_ROOT } from '../../shared/version.js';

/**
 * The descriptors `npm run gen` builds from proto/ with their source info (the comments), which the
 * generated code leaves out: reflection serves these, so a client with no .proto still reads the docs.
 */
export const SOURCE_DESCRIPTORS = path.join(PROJECT_ROOT, 'gen', 'descriptors.binpb');

function loadWithSourceInfo(file: string): Map<string, FileDescriptorProto> {
  const byName = new Map<string, FileDescriptorProto>();
  if (!fs.existsSync(file)) return byName;
  for (const f of fromBinary(FileDescriptorSetSchema, fs.readFileSync(file)).file) byName.set(f.name, f);
  return byName;
}

/**
 * An index of the files our services are defined in, with every file they import, by file name and
 * by fully-qualified symbol: what gRPC server reflection answers from.
 */
export class DescriptorIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  readonly serviceNames: string[];
  /** Read on the first file a client asks for, not at start: decoding it cost every server start about 0.1 s of CPU. */
  private documentedFiles: Map<string, FileDescriptorProto> | undefined;

  constructor(roots: DescFile[], private readonly sourceDescriptors = SOURCE_DESCRIPTORS) {
    const services: string[] = [];
    const add = (file: DescFile) => {
      if (this.files.has(file.proto.name)) return;
      this.files.set(file.proto.name, file);
      for (const dep of file.dependencies) add(dep);
      for (const m of file.messages) this.addMessage(file, m);
      for (const e of file.enums) this.addEnum(file, e);
      for (const x of file.extensions) this.symbols.set(x.typeName, file);
      for (const s of file.services) {
        this.symbols.set(s.typeName, file);
        for (const m of s.methods) this.symbols.set(`${s.typeName}.${m.name}`, file);
      }
    };
    for (const f of roots) {
      add(f);
      services.push(...f.services.map((s) => s.typeName));
    }
    this.serviceNames = [...new Set(services)].sort();
  }

  private addMessage(file: DescFile, m: DescMessage): void {
    this.symbols.set(m.typeName, file);
    for (const n of m.nestedMessages) this.addMessage(file, n);
    for (const e of m.nestedEnums) this.addEnum(file, e);
    for (const x of m.nestedExtensions) this.symbols.set(x.typeName, file);
  }

  private addEnum(file: DescFile, e: DescEnum): void {
    this.symbols.set(e.typeName, file);
    for (const v of e.values) this.symbols.set(`${e.typeName.slice(0, e.typeName.lastIndexOf('.') + 1)}${v.name}`, file);
  }

  private get documented(): Map<string, FileDescriptorProto> {
    return (this.documentedFiles ??= loadWithSourceInfo(this.sourceDescriptors));
  }

  fileByName(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  fileBySymbol(symbol: string): DescFile | undefined {
    return this.symbols.get(symbol.replace(/^\./, ''));
  }

  /** The file and everything it imports, serialized, the file itself first (as grpcurl expects). */
  serializeWithDeps(file: DescFile): Uint8Array[] {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, this.documented.get(f.proto.name) ?? f.proto));
      for (const d of f.dependencies) visit(d);
    };
    visit(file);
    return out;
  }
}
