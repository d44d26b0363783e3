import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  InteractionContextType,
  type RESTPutAPIApplicationCommandsJSONBody,
} from 'discord.js';
import { HELP_COMMAND, READ_COMMAND } from './to-request.ts';

/**
 * The slash commands, registered globally with PUT /applications/{application.id}/commands
 * ("Bulk Overwrite Global Application Commands": idempotent, so every start may send it).
 */
export const slashCommands: RESTPutAPIApplicationCommandsJSONBody = [
  {
    type: ApplicationCommandType.ChatInput,
    name: READ_COMMAND,
    description: 'Second look at a de-identified image or DICOM (not for diagnostic use)',
    integration_types: [ApplicationIntegrationType.GuildInstall],
    contexts: [InteractionContextType.Guild, InteractionContextType.BotDM],
    options: [
      {
        type: ApplicationCommandOptionType.Attachment,
        name: 'image',
        description: 'A de-identified image (PNG, JPEG, WebP, TIFF) or DICOM file',
        required: true,
      },
      {
        type: ApplicationCommandOptionType.String,
        name: 'question',
        description: 'What should the read focus on?',
        required: false,
        max_length: 1000,
      },
    ],
  },
  {
    type: ApplicationCommandType.ChatInput,
    name: HELP_COMMAND,
    description: 'How to use quickread, queue status and the model in use',
    integration_types: [ApplicationIntegrationType.GuildInstall],
    contexts: [InteractionContextType.Guild, InteractionContextType.BotDM],
  },
];
