import type { ConnectRouter } from '@connectrpc/connect';
import type { DescFile, MessageInitShape } from '@bufbuild/protobuf';
import * as v1 from '../../gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';
import { DescriptorIndex } from './descriptors.js';

/** gRPC status codes used in reflection error answers (the protocol carries them as numbers). */
const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

/** The two versions share messages field for field; this is their common shape. */
type Request = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;
type Answer = MessageInitShape<typeof v1.ServerReflectionResponseSchema>;
type AlphaAnswer = MessageInitShape<typeof v1alpha.ServerReflectionResponseSchema>;

/**
 * gRPC server reflection, v1 and v1alpha, answered from the generated descriptors of the files
 * given (and what they import): `grpcurl -plaintext host:port list` and `buf curl` need no .proto.
 */
export function registerReflection(router: ConnectRouter, roots: DescFile[]): void {
  const index = new DescriptorIndex(roots);
  const answer = (req: Request): Answer => {
    const r = req.messageRequest;
    const original =
      r.case === 'fileContainingExtension'
        ? { case: r.case, value: { containingType: r.value.containingType, extensionNumber: r.value.extensionNumber } }
        : r;
    const base = { validHost: req.host, originalRequest: { host: req.host, messageRequest: original } };
    const error = (code: number, message: string) => ({ ...base, messageResponse: { case: 'errorResponse' as const, value: { errorCode: code, errorMessage: message } } });
    const files = (file: DescFile | undefined, what: string) =>
      file
        ? { ...base, messageResponse: { case: 'fileDescriptorResponse' as const, value: { fileDescriptorProto: index.serializeWithDeps(file) } } }
        : error(NOT_FOUND, `${what} not found`);
    switch (r.case) {
      case 'listServices':
        return { ...base, messageResponse: { case: 'listServicesResponse' as const, value: { service: index.serviceNames.map((name) => ({ name })) } } };
      case 'fileByFilename':
        return files(index.fileByName(r.value), `file ${r.value}`);
      case 'fileContainingSymbol':
        return files(index.fileBySymbol(r.value), `symbol ${r.value}`);
      case 'fileContainingExtension':
        return error(NOT_FOUND, `extension ${r.value.extensionNumber} of ${r.value.containingType} not found`);
      case 'allExtensionNumbersOfType':
        if (!index.fileBySymbol(r.value)) return error(NOT_FOUND, `type ${r.value} not found`);
        return { ...base, messageResponse: { case: 'allExtensionNumbersResponse' as const, value: { baseTypeName: r.value, extensionNumber: [] } } };
      default:
        return error(UNIMPLEMENTED, 'unknown reflection request');
    }
  };
  router.service(v1.ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const req of untilHangUp(requests)) yield answer(req);
    },
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      // The two versions' messages match field for field; only their type names differ.
      for await (const req of untilHangUp(requests)) yield answer(req) as unknown as AlphaAnswer;
    },
  });
}

/** Clients (grpcurl, buf curl) often reset the stream once they have their answers: that ends it, no error. */
async function* untilHangUp<T>(requests: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* requests;
  } catch {
    return;
  }
}
