# Starts the minimal Action Mailbox app of this directory on 127.0.0.1 with
# WEBrick (Debian's ruby-webrick), from the system gems: no bundler, no
# network. Usage: ruby serve.rb PORT (environment: DB_PATH, STORAGE_ROOT,
# RAILS_INBOUND_EMAIL_PASSWORD, MAILGUN_INGRESS_SIGNING_KEY). Prints
# "listening" on stdout once the socket is bound.
require "rack"
require "webrick"

app, = Rack::Builder.parse_file(File.join(__dir__, "config.ru"))
server = WEBrick::HTTPServer.new(
  BindAddress: "127.0.0.1", Port: Integer(ARGV[0]), AccessLog: [],
  Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN),
  StartCallback: -> { $stdout.puts "listening"; $stdout.flush })
server.mount "/", Rack::Handler::WEBrick, app
trap("TERM") { server.shutdown }
server.start
