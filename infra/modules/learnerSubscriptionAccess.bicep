// The app identity's access to the learner subscription (deployed with scope: subscription(learnerSubscriptionId)).
// Contributor: resource groups, template deployments, teardown. Contributor cannot write role
// assignments, and the scenario packs' templates assign data-plane roles to the learner and to the
// resources they create, so (delegateRoleAssignments) the identity also gets Role Based Access Control
// Administrator with a condition that lets it assign and remove only those roles.
targetScope = 'subscription'

param appPrincipalId string
param delegateRoleAssignments bool

var contributor = 'b24988ac-6180-42a0-ab88-20f7382dd24c'
var roleBasedAccessControlAdministrator = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'

// The roles scenarios/packs/*/environment/template.json assign (variables.roles).
var assignableRoles = [
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
  '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
  'a638d3c7-ab3a-418d-83e6-5f17a39d4fde' // Azure Event Hubs Data Receiver
  '2b629674-e913-4c01-ae53-ef4638d8f975' // Azure Event Hubs Data Sender
  '7f951dda-4ed3-4680-a7ca-43fe172d538d' // AcrPull
]
var assignableRoleList = join(assignableRoles, ', ')
// Role assignment conditions (version 2.0): writes and deletes of role assignments only for the roles above.
var delegationCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${assignableRoleList}})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${assignableRoleList}}))'

resource learnerContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appPrincipalId, contributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', contributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'workshop-orchestrator: learner environments (resource groups, deployments, teardown)'
  }
}

resource learnerRoleDelegation 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (delegateRoleAssignments) {
  name: guid(subscription().id, appPrincipalId, roleBasedAccessControlAdministrator)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleBasedAccessControlAdministrator)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'workshop-orchestrator: the scenario packs\' data-plane role assignments only'
    condition: delegationCondition
    conditionVersion: '2.0'
  }
}
