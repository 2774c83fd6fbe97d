import ArgumentParser

/// The `qantara` command: the server and the administrator's CLI.
@main
struct Qantara: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qantara",
        abstract: "Qantara: a sovereign S3-compatible object storage gateway.",
        version: Qantara.version,
        subcommands: [Serve.self, Gateway.self, Bench.self, TenantCommand.self, AccessKeyCommand.self, NodeCommand.self,
                      KeyCommand.self, KeystoreCommand.self,
                      GrantCommand.self, AuditCommand.self, AdministratorCommand.self, ApproveCommand.self,
                      ApprovalsCommand.self, LogCommand.self, TrustCommand.self, AttestCommand.self, VerifyCommand.self,
                      ControlCommand.self, StatusCommand.self]
    )

    /// The release, shown by `qantara --version` (and `qantara version`); raised with every release.
    static let version = "0.19.0"
}
