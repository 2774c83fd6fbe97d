import HTTPTypes
import Hummingbird
import KeyStoreHTTP
import Logging
import NIOCore
import NIOSSL
import NodeHTTP

/// A storage node's door. Under mutual TLS the handshake lets in any certificate of a trusted authority; this lets
/// through only gateways, each certified by its own jurisdiction's authority (``CertificateIdentities``, role
/// `gateway`): another node's, a key store's or an operator's certificate moves no data. Without TLS (tokens,
/// `certificates` nil) every request goes to the node server, which checks its token.
struct NodeDoor: HTTPResponder {
    typealias Context = PeerRequestContext

    let node: NodeServer
    let certificates: CertificateIdentities?
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        if let certificates {
            let peer = try? await context.channel.nioSSL_peerCertificate().get()
            let identity = peer.flatMap { try? $0.toDERBytes() }.map { certificates.identity($0) }
            guard case .success(let gateway)? = identity, gateway.role == .gateway else {
                if case .failure(let refusal)? = identity {
                    logger.warning("client certificate refused", metadata: ["reason": "\(refusal)"])
                }
                return Response(status: .forbidden, headers: [.contentType: "text/plain"],
                                body: .init(byteBuffer: ByteBuffer(string: "only gateways are served here\n")))
            }
        }
        return try await node.respond(to: request, context: BasicRequestContext(
            source: ApplicationRequestContextSource(channel: context.channel, logger: context.logger)))
    }
}
