/**
 * The `quintet` command line: `server` (run a server) and the client
 * commands `register`, `send`, `receive`, `safety-number`, `trust`, and device
 * management: `link`, `devices` (list / approve / remove), `logout`, and `settings`. This module only
 * assembles the program; each command lives in its own module.
 */
import { Command } from 'commander';
import { addChatCommands } from './commands/chat.js';
import { addChatsCommand } from './commands/chats.js';
import { addDevicesCommand } from './commands/devices.js';
import { addGroupCommands } from './commands/group.js';
import { addHistoryCommand } from './commands/history.js';
import { addLinkCommand } from './commands/link.js';
import { addLogoutCommand } from './commands/logout.js';
import { addReceiveCommand } from './commands/receive.js';
import { addRegisterCommand } from './commands/register.js';
import { addSafetyNumberCommand } from './commands/safety-number.js';
import { addSendCommand } from './commands/send.js';
import { addSettingsCommand } from './commands/settings.js';
import { addServerCommand } from './server-command.js';
import { addTrustCommand } from './commands/trust.js';

const program = new Command()
  .name('quintet')
  .description('Quintet: self-hostable end-to-end-encrypted multi-device messaging')
  .version('0.1.0')
  .showHelpAfterError('(run "quintet --help" for usage)');

addServerCommand(program);
addRegisterCommand(program);
addSendCommand(program);
addGroupCommands(program);
addChatCommands(program);
addReceiveCommand(program);
addSafetyNumberCommand(program);
addTrustCommand(program);
addLinkCommand(program);
addHistoryCommand(program);
addChatsCommand(program);
addDevicesCommand(program);
addLogoutCommand(program);
addSettingsCommand(program);

await program.parseAsync(process.argv);
