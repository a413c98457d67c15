/** The proxy's HTTP/1.1 wire layer: pure code over bytes, no sockets (see README.md). */
export { BodyFramer, MAX_CHUNK_LINE, MAX_TRAILER_BYTES } from "./body.ts";
export { CHUNKED, FIELD, NO_BODY, UNTIL_CLOSE, parseRequestHead, parseResponseHead } from "./head.ts";
export type { BodyFraming, Header, HeadLimits, HttpVersion, MessageHead, RequestHead, RequestParse, RequestStatus, ResponseHead, ResponseParse } from "./head.ts";
export { decodeProxy, encodeProxyV1, encodeProxyV2, V1_MAX_LINE, V2_MAX_LENGTH } from "./proxy-protocol.ts";
export type { ProxyAddress, ProxyDecode, ProxyHeader } from "./proxy-protocol.ts";
export { forwardedNode, forwardedValue, unmapped, writeHead, writeRequestHead, writeRequestHeadInto, writeResponseHead, writeResponseHeadInPlace } from "./rewrite.ts";
export type { ForwardEdits, ReplyEdits } from "./rewrite.ts";
