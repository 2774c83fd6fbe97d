import HTTPTypes
import Hummingbird
import KeyStoreHTTP
import Logging
import NIOCore
import NIOSSL
import NodeHTTP

/// A storage node's door under mutual TLS: the handshake let in any certificate of a trusted authority; this lets
/// through only gateways, each certified by its own jurisdiction's authority (``CertificateIdentities``, role
/// `gateway`). Another node's or a key store's certificate, or an operator's, moves no data.
struct GatewaysOnly: HTTPResponder {
    typealias Context = KeyStoreRequestContext

    let node: NodeServer
    let certificates: CertificateIdentities
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        let peer = try? await context.channel.nioSSL_peerCertificate().get()
        let identity = peer.flatMap { try? $0.toDERBytes() }.map { certificates.identity($0) }
        guard case .success(let gateway)? = identity, gateway.role == .gateway else {
            if case .failure(let refusal)? = identity {
                logger.warning("client certificate refused", metadata: ["reason": "\(refusal)"])
            }
            return Response(status: .forbidden, headers: [.contentType: "text/plain"],
                            body: .init(byteBuffer: ByteBuffer(string: "only gateways are served here\n")))
        }
        return try await node.respond(to: request, context: BasicRequestContext(
            source: ApplicationRequestContextSource(channel: context.channel, logger: context.logger)))
    }
}

/// The node's responder: gateways only under mutual TLS, else (plain HTTP, tokens) the node server itself.
struct GatewaysOrAnyone: HTTPResponder {
    typealias Context = KeyStoreRequestContext

    let node: NodeServer
    let certificates: CertificateIdentities?
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        if let certificates {
            return try await GatewaysOnly(node: node, certificates: certificates, logger: logger)
                .respond(to: request, context: context)
        }
        return try await node.respond(to: request, context: BasicRequestContext(
            source: ApplicationRequestContextSource(channel: context.channel, logger: context.logger)))
    }
}
