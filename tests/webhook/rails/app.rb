# A minimal Rails 6.1 application with Action Mailbox, for
# tests/webhook/test_rails_ingress.py: the ingress controllers are Rails'
# own; the app adds nothing but a database (sqlite3) and Active Storage on
# disk, where each InboundEmail keeps the message it received.
require "logger"
require "rails"
require "active_record/railtie"
require "active_storage/engine"
require "action_controller/railtie"
require "action_mailer/railtie"
require "active_job/railtie"
require "action_mailbox/engine"

class MailApp < Rails::Application
  config.root = __dir__
  config.paths["config/database"] = ENV.fetch("DATABASE_YML")
  config.eager_load = false
  config.logger = Logger.new($stderr)
  config.log_level = :warn
  config.secret_key_base = "x" * 64
  config.active_storage.service = :local
  config.active_storage.service_configurations = {
    "local" => { "service" => "Disk", "root" => ENV.fetch("STORAGE_ROOT") }
  }
  config.active_job.queue_adapter = :test # routing to mailboxes is not under test
  config.hosts.clear
  config.action_mailbox.ingress = :relay
end
