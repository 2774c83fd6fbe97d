import Foundation
import ObjectModel
import Placement

extension Serve {
    static func printBanner(gateways: [(Jurisdiction, ListenAddress)], topology: Topology, root: RootCredentials,
                            generated: Bool, data: String, administrators: [String]) {
        let (host, port) = (gateways[0].1.host, gateways[0].1.port)
        var lines = ["Qantara is serving S3 on http://\(host):\(port)"]
        for (jurisdiction, address) in gateways {
            lines.append("  gateway in \(jurisdiction): http://\(address.host):\(address.port)")
        }
        for entry in topology.jurisdictions {
            lines.append("  jurisdiction \(entry.code): nodes \(entry.nodes.map { $0.id.rawValue + ($0.address.map { "@" + $0 } ?? "") }.joined(separator: ", "))"
                + (entry.regions.isEmpty ? "" : "; regions \(entry.regions.joined(separator: ", "))"))
        }
        lines.append("  default jurisdiction: \(topology.defaultJurisdiction), replicas per object: \(topology.replicationFactor)")
        lines.append("  data: \(data)")
        lines.append("  root access key: \(root.accessKeyId)")
        // The secret is shown once, when it was just made; afterwards it stays where it is kept.
        lines.append("  root secret key: " + (generated ? "\(root.secretAccessKey)  (generated, saved in \(data)/root-credentials)"
                                                        : "(not shown: in \(data)/root-credentials or QANTARA_ROOT_SECRET_KEY)"))
        if !administrators.isEmpty {
            lines.append("  administrators created (each jurisdiction's authority: grants, keys, audit; two must approve "
                + "irreversible acts): " + administrators.joined(separator: ", "))
        }
        lines.append("  try: AWS_ACCESS_KEY_ID=\(root.accessKeyId) AWS_SECRET_ACCESS_KEY=… aws --endpoint-url http://\(host):\(port) s3 ls")
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
