// The two user-assigned identities of the dashboard (GET /api/dashboard on the Function App), each for one
// thing only, so that neither holds anything the other needs:
//   * sqlReader: signs in to Azure SQL for the dashboard. Its database user (infra/sql/grant_identities.sql) is a
//     member of rpt_reader and of nothing else; it has no Azure role at all.
//   * signIn: the federated credential of the dashboard's Entra app registration, used by App Service
//     authentication instead of a client secret (OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID); no Azure role either.

@description('Required. Name of the identity the dashboard reads the rpt views with.')
param sqlReaderName string

@description('Required. Name of the identity App Service authentication signs in with (federated credential).')
param signInName string

@description('Required. Azure region.')
param location string

@description('Optional. Tags applied to every resource.')
param tags object = {}

resource sqlReader 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: sqlReaderName
  location: location
  tags: tags
}

resource signIn 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: signInName
  location: location
  tags: tags
}

@description('Resource id of the SQL reader identity.')
output sqlReaderId string = sqlReader.id

@description('Name of the SQL reader identity (its database user is named after it).')
output sqlReaderName string = sqlReader.name

@description('Client id of the SQL reader identity (UID= of the connection string; the database user SID).')
output sqlReaderClientId string = sqlReader.properties.clientId

@description('Resource id of the sign-in identity.')
output signInId string = signIn.id

@description('Client id of the sign-in identity (OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID).')
output signInClientId string = signIn.properties.clientId

@description('Object id of the sign-in identity (subject of the app registration\'s federated credential).')
output signInPrincipalId string = signIn.properties.principalId
